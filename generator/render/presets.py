"""Quality presets and render-device names as plain data (no bpy): the job schema validates
against them and the Blender view applies them.

samples: max samples per pixel (adaptive sampling stops earlier where the noise is below
`adaptive_threshold`); bounces: Cycles light-path limits; caustics always off (noise, no benefit
for skin); clamp_indirect: fireflies from small bright HDRI spots; world_map_resolution: the world
light's importance map (rebuilt whenever the HDRI or sky changes: cost ~ res^2); subsurface: the
skin's subsurface scattering method. Christensen-Burley (a diffusion profile) costs about a third
less Cycles time per view than a random walk through the skin volume at 256 px (1.25 vs 1.86 s at
16 samples, benchmarks/subsurface_cost.py), for a little less translucency in thin fingers
(docs/RENDERING.md, "Quality presets"); "high" keeps the random walk. A job's fingerprint covers
these settings, so a folder rendered with other ones is not resumed.
"""
from __future__ import annotations

PRESETS: dict[str, dict] = {
    "draft": dict(samples=8, denoise=True, denoise_prefilter="FAST", resolution=(256, 256), adaptive_threshold=0.05,
                  max_bounces=4, diffuse_bounces=2, glossy_bounces=2, transmission_bounces=2,
                  transparent_bounces=4, clamp_indirect=3.0, world_map_resolution=128,
                  subsurface="BURLEY"),
    "default": dict(samples=12, denoise=True, denoise_prefilter="FAST", resolution=(256, 256), adaptive_threshold=0.02,
                    max_bounces=6, diffuse_bounces=3, glossy_bounces=3, transmission_bounces=4,
                    transparent_bounces=8, clamp_indirect=5.0, world_map_resolution=256,
                    subsurface="BURLEY"),
    "high": dict(samples=256, denoise=True, denoise_prefilter="ACCURATE", resolution=(512, 512), adaptive_threshold=0.01,
                 max_bounces=12, diffuse_bounces=6, glossy_bounces=6, transmission_bounces=8,
                 transparent_bounces=16, clamp_indirect=10.0, world_map_resolution=1024,
                 subsurface="RANDOM_WALK_SKIN"),
}
PRESET_NAMES = tuple(PRESETS)

DEVICES = ("auto", "cpu", "cuda", "optix", "hip", "metal")
GPU_PREFERENCE = ("optix", "cuda", "hip", "metal")   # what "auto" tries, best first


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"unknown quality preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
