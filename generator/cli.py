"""`cyclehand-gen`: the generator's command line. Each command lives in its own module and is
imported only when it runs, so `cyclehand-gen poses` never pays for importing Blender."""
from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click command
COMMANDS = {
    "poses": "generator.poses_cli:poses",
    "textures": "generator.textures.cli:textures",
    "render": "generator.render_cli:render",
    "preview": "generator.preview:preview",
    "hdri": "generator.hdri:hdri_cli",
    "audit": "generator.audit.cli:audit_cli",
    "verify": "generator.dataset.verify:verify",
    "merge": "generator.dataset.merge:merge",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """CycleHand: synthetic cyclic-pair renders of 3D hands."""


if __name__ == "__main__":
    main()
