"""A plain textured material shared by distractors and what the arm wears: a Principled BSDF whose
base colour mixes two colours by a noise texture in object coordinates (so the pattern turns and
scales with the object)."""
from __future__ import annotations

import bpy
import numpy as np

from generator.colour import srgb_to_linear

MIX_A_COLOR, MIX_B_COLOR = 6, 7     # the Mix node's colour inputs (its A/B names repeat per data type)


def noise_material(name: str, detail: float = 4.0) -> tuple[object, dict]:
    """(material, nodes) with nodes = {"bsdf", "noise", "mix"} for ``set_noise_material``."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    tree = mat.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    coord = tree.nodes.new("ShaderNodeTexCoord")
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Detail"].default_value = detail
    mix = tree.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    tree.links.new(coord.outputs["Object"], noise.inputs["Vector"])
    tree.links.new(noise.outputs["Fac"], mix.inputs["Factor"])
    tree.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    return mat, {"bsdf": bsdf, "noise": noise, "mix": mix}


def set_noise_material(nodes: dict, colors, texture_scale: float, roughness: float,
                       metallic: float = 0.0, sheen: float = 0.0) -> None:
    """Two sRGB colours (mixed by the noise), the noise's scale, roughness, metallic, sheen."""
    colors = colors or [[0.5, 0.5, 0.5], [0.4, 0.4, 0.4]]
    lin = [[float(x) for x in srgb_to_linear(np.clip(c, 0, 1))] + [1.0] for c in colors[:2]]
    nodes["mix"].inputs[MIX_A_COLOR].default_value = lin[0]
    nodes["mix"].inputs[MIX_B_COLOR].default_value = lin[-1]
    nodes["noise"].inputs["Scale"].default_value = float(texture_scale)
    bsdf = nodes["bsdf"]
    bsdf.inputs["Roughness"].default_value = float(roughness)
    bsdf.inputs["Metallic"].default_value = float(metallic)
    bsdf.inputs["Sheen Weight"].default_value = float(sheen)
