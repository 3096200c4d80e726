"""`cyclehand-gen textures`: build or update the procedural skin texture set."""
from __future__ import annotations

import click


@click.command("textures")
@click.option("--out", default="textures", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the maps, manifest.json and contact_sheet.png.")
@click.option("--resolution", default=2048, show_default=True, type=int, help="Map size (power of two; 4096 for close-ups).")
@click.option("--individuals", default=3, show_default=True, type=int, help="Individuals per skin tone.")
@click.option("--tones", default="1-10", show_default=True, help="Monk Skin Tone levels, e.g. '1-10' or '1,5,10'.")
@click.option("--workers", default=2, show_default=True, type=int, help="Worker processes.")
@click.option("--force", is_flag=True, help="Rebuild every variant even if up to date.")
def textures(out, resolution, individuals, tones, workers, force):
    """Procedural skin textures for MST 1-10 (base colour, normal, roughness, subsurface)."""
    from .builder import build
    try:
        levels = _parse_tones(tones)
        build(out, resolution=resolution, individuals=individuals, tones=levels, workers=workers, force=force)
    except (ValueError, PermissionError) as e:
        raise click.ClickException(str(e)) from None


def _parse_tones(spec: str) -> list[int]:
    levels = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = part.split("-")
                levels += list(range(int(a), int(b) + 1))
            elif part:
                levels.append(int(part))
        except ValueError:
            raise ValueError(f"--tones: cannot read {part!r}; use e.g. '1-10' or '1,5,10'") from None
    if not levels:
        raise ValueError("--tones: no skin tone given")
    return levels
