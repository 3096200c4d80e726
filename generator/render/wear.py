"""What the arm wears, in the Blender scene: one mesh object per piece (sleeve; watch strap and
case; bracelet), rebuilt each view from the camera-frame geometry of generator.wear, parented to
the hand so motion blur moves it with the arm, tagged with its part id (sleeve, accessory) for
the part-ID pass. Each piece's material is generator.render.noise_material's; the kind's applier
(generator/render/appliers/wear_*.py) sets its values."""
from __future__ import annotations

import bpy
import numpy as np

from generator.render import appliers, parts_pass
from generator.render.noise_material import noise_material


class WearPool:
    def __init__(self, scene):
        self.scene = scene
        self._slots: list[tuple[object, dict]] = []

    def _slot(self, i: int):
        while len(self._slots) <= i:
            mesh = bpy.data.meshes.new("wear")
            obj = bpy.data.objects.new("wear", mesh)
            mat, nodes = noise_material(f"wear{len(self._slots)}", detail=6.0)
            mesh.materials.append(mat)
            self.scene.collection.objects.link(obj)
            self._slots.append((obj, nodes))
        return self._slots[i]

    def show(self, items: list, world_from_cv: np.ndarray, parent) -> None:
        """Place this view's wear (generator.wear.wear_meshes) and hide every other pooled piece."""
        used = 0
        for item in items or []:
            shade = appliers.applier("wear", item["kind"])
            for piece in item["pieces"]:
                obj, nodes = self._slot(used)
                used += 1
                v = (np.asarray(piece["vertices"], np.float64) @ world_from_cv.T).astype(np.float32)
                f = np.asarray(piece["faces"], np.int32)
                old = obj.data
                mesh = bpy.data.meshes.new("wear")
                mesh.vertices.add(len(v))
                mesh.vertices.foreach_set("co", v.ravel())
                mesh.loops.add(f.size)
                mesh.loops.foreach_set("vertex_index", f.ravel())
                mesh.polygons.add(len(f))
                mesh.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
                mesh.polygons.foreach_set("use_smooth", np.full(len(f), bool(piece.get("smooth", True))))
                mesh.materials.append(old.materials[0])
                mesh.update()
                obj.data = mesh
                bpy.data.meshes.remove(old)
                if obj.parent is not parent:
                    obj.parent = parent
                parts_pass.tag_object(obj, item["part"])
                shade(nodes, piece["material"])
                obj.hide_render = False
        for obj, _ in self._slots[used:]:
            obj.hide_render = True
