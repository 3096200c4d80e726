"""Quality presets are plain data the job schema and the Blender view share (no bpy here)."""
import pytest

from generator.render.presets import PRESET_NAMES, PRESETS, preset

SUBSURFACE_METHODS = {"BURLEY", "RANDOM_WALK", "RANDOM_WALK_SKIN"}     # Cycles' Principled BSDF


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_names_a_cycles_subsurface_method(name):
    assert preset(name)["subsurface"] in SUBSURFACE_METHODS


def test_samples_and_light_paths_grow_with_quality():
    assert set(PRESET_NAMES) == {"draft", "default", "high"}
    d, m, h = (PRESETS[n] for n in ("draft", "default", "high"))
    assert d["samples"] <= m["samples"] < h["samples"]
    assert d["max_bounces"] <= m["max_bounces"] <= h["max_bounces"]
    assert h["subsurface"] == "RANDOM_WALK_SKIN"      # the reference quality keeps the random walk


def test_unknown_preset_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="draft, default, high"):
        preset("ultra")
