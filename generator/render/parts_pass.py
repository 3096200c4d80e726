"""The part-ID pass: a second view layer, "parts", rendered with one sample per pixel and every
material overridden by a flat emission of the surface's part id (generator.parts).

The id comes from the hand mesh's face attribute ``part_id`` or, for other objects (sleeves,
accessories), from their custom property ``part_id``; a surface with neither is a distractor.
One sample per pixel means each pixel holds the id of exactly one surface (no blending of ids
at edges); the layer's own depth pass is that same surface's depth, so visibility compares the
keypoint with the surface its id names. The layer costs one camera ray per pixel and no light
paths (emission only); benchmarks/label_cost.py measures its share of the render time.
"""
from __future__ import annotations

import bpy
import numpy as np

from generator.parts import PART_IDS

LAYER = "parts"
ATTRIBUTE = "part_id"


def _emission_material() -> object:
    mat = bpy.data.materials.new("cyclehand_part_id")
    mat.use_nodes = True
    tree = mat.node_tree
    nodes = tree.nodes
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    emit = nodes.new("ShaderNodeEmission")
    geo = nodes.new("ShaderNodeAttribute")
    geo.attribute_type, geo.attribute_name = "GEOMETRY", ATTRIBUTE
    obj = nodes.new("ShaderNodeAttribute")
    obj.attribute_type, obj.attribute_name = "OBJECT", ATTRIBUTE
    add = nodes.new("ShaderNodeMath")
    add.operation = "ADD"
    tree.links.new(geo.outputs["Fac"], add.inputs[0])
    tree.links.new(obj.outputs["Fac"], add.inputs[1])
    tree.links.new(add.outputs["Value"], emit.inputs["Strength"])
    emit.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    tree.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def add_parts_layer(scene) -> None:
    """Add the "parts" view layer to ``scene`` (once): Combined = id, Depth = its surface's z."""
    if LAYER in scene.view_layers:
        return
    vl = scene.view_layers.new(LAYER)
    vl.use_pass_combined = True
    vl.use_pass_z = True
    vl.samples = 1
    vl.cycles.use_denoising = False
    vl.material_override = _emission_material()


def set_face_ids(mesh, ids: np.ndarray) -> None:
    """Store per-face part ids on a mesh (the attribute the override material reads)."""
    attr = mesh.attributes.get(ATTRIBUTE) or mesh.attributes.new(ATTRIBUTE, "FLOAT", "FACE")
    attr.data.foreach_set("value", np.asarray(ids, np.float32))


def tag_object(obj, part: str) -> None:
    """Give a non-hand object (sleeve, accessory) its part id."""
    obj[ATTRIBUTE] = float(PART_IDS[part])


def read(channels: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ids (H, W) uint8, depth (H, W) float32 camera z, inf on background) from the parts
    layer's EXR channels ("parts.Combined.R", "parts.Combined.A", "parts.Depth.Z")."""
    value = channels[f"{LAYER}.Combined.R"]
    alpha = channels[f"{LAYER}.Combined.A"]
    hit = alpha >= 0.5
    ids = np.rint(np.where(hit, value, 0.0)).astype(np.int32)
    ids[hit & (ids <= 0)] = PART_IDS["distractor"]          # hit a surface that carries no id
    depth = np.where(hit, channels[f"{LAYER}.Depth.Z"], np.inf).astype(np.float32)
    return np.clip(ids, 0, 255).astype(np.uint8), depth
