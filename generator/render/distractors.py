"""Distractor objects in the Blender scene: one unit mesh per kind (from the kind's applier), a
pool of objects per kind reused from view to view (hidden when unused), each with its own
textured material: two colours mixed by a noise texture in object coordinates, so the texture
turns and scales with the object.

Distractors carry no "hand" AOV, so the hand mask (BlenderView) leaves them out while Cycles'
alpha, depth and colour include them: an occluder hides the hand pixels it covers.
"""
from __future__ import annotations

import bpy  # noqa: I001  (first: bmesh is importable only once bpy is)
import bmesh
import mathutils
import numpy as np

from generator.render import appliers
from generator.render.noise_material import noise_material, set_noise_material
from generator.render.nodes import require



class DistractorPool:
    def __init__(self, scene):
        self.scene = scene
        self._meshes: dict[str, object] = {}
        self._objects: dict[str, list] = {}

    def _mesh(self, kind: str):
        if kind not in self._meshes:
            build = appliers.applier("distractor", kind)
            bm = bmesh.new()
            smooth = build(bm)
            mesh = bpy.data.meshes.new(f"distractor_{kind}")
            bm.to_mesh(mesh)
            bm.free()
            mesh.polygons.foreach_set("use_smooth", np.full(len(mesh.polygons), bool(smooth)))
            mesh.update()
            self._meshes[kind] = mesh
        return self._meshes[kind]

    def _new_object(self, kind: str):
        obj = bpy.data.objects.new(f"distractor_{kind}", self._mesh(kind))
        mat, nodes = noise_material(obj.name)
        obj.active_material = mat
        obj["cyclehand_distractor"] = kind     # for anyone walking the scene (e.g. a part-ID pass)
        self.scene.collection.objects.link(obj)
        return obj, nodes

    def show(self, distractors: list, world_from_cv: np.ndarray) -> None:
        """Place the sample's distractors (camera-frame dicts) and hide every other pooled object."""
        used: dict[str, int] = {}
        for i, d in enumerate(distractors or []):
            what = f"distractors[{i}]"
            kind = require(d, "kind", what)
            pool = self._objects.setdefault(kind, [])
            k = used.get(kind, 0)
            used[kind] = k + 1
            if k == len(pool):
                pool.append(self._new_object(kind))
            obj, nodes = pool[k]
            R = world_from_cv @ np.asarray(require(d, "rotation", what), np.float64)
            M = np.eye(4)
            M[:3, :3] = R * np.asarray(require(d, "half_extents", what), np.float64)[None, :]
            M[:3, 3] = world_from_cv @ np.asarray(require(d, "position", what), np.float64)
            obj.matrix_world = mathutils.Matrix(M.tolist())
            set_noise_material(nodes, d.get("colors"), d.get("texture_scale", 5.0), d.get("roughness", 0.5))
            obj.hide_render = False
        for kind, pool in self._objects.items():
            for obj, _ in pool[used.get(kind, 0):]:
                obj.hide_render = True

