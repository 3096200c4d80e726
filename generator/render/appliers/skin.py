"""The hand's skin and nail materials: a Principled BSDF fed by the texture set's four maps
(base colour, normal, roughness, subsurface weight), built once per Blender view and re-valued
per sample from the appearance dict (docs/RENDERING.md)."""
from __future__ import annotations

import bpy

from generator.render.nodes import link, unlink
from generator.textures.measured import SKIN_IOR

# Nails: glossier (lower roughness, clear coat) and less translucent than skin.
NAIL_ROUGHNESS_SCALE = 0.35
NAIL_SUBSURFACE_SCALE = 0.3
NAIL_COAT = 0.6
# Skin's sebum film: a thin, slightly rough clear coat whose weight follows the roughness map
# (oily where the skin is smooth, none on dry, rough knuckles, creases and palms). Its
# refractive index and the skin's (1.4, the one generator.textures.measured uses to compare the
# albedo with spectrophotometer readings) make the specular lobe.
SKIN_COAT_FROM_ROUGHNESS = ((0.42, 0.58), (0.3, 0.0))   # roughness range -> coat weight range
SKIN_COAT_ROUGHNESS = 0.3
DEFAULT_SUBSURFACE_RADIUS_M = (0.0036, 0.0014, 0.0008)   # red light travels furthest in skin
MAP_KEYS = ("base_color", "normal", "roughness", "subsurface")
HAND_AOV = "hand"     # the view layer's AOV the hand's materials write 1 to (the hand mask)


def _make_material(name, rough_scale, sss_scale, coat, subsurface_method) -> dict:
    """Principled BSDF fed by the four skin maps; nail = same maps, glossier and less SSS."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    tree = mat.node_tree
    nodes = tree.nodes
    bsdf = nodes["Principled BSDF"]
    bsdf.subsurface_method = subsurface_method
    bsdf.inputs["Subsurface Scale"].default_value = 1.0    # radius is given in metres
    bsdf.inputs["Coat Weight"].default_value = coat or 0.0
    bsdf.inputs["Coat Roughness"].default_value = 0.08 if coat else SKIN_COAT_ROUGHNESS
    if not coat:                                           # skin (nails keep the default IOR)
        bsdf.inputs["IOR"].default_value = SKIN_IOR
    uv = nodes.new("ShaderNodeUVMap")
    uv.uv_map = "UVMap"
    tex = {}
    for key in MAP_KEYS:
        tex[key] = nodes.new("ShaderNodeTexImage")
        tex[key].interpolation = "Linear"
        tree.links.new(uv.outputs["UV"], tex[key].inputs["Vector"])
    nmap = nodes.new("ShaderNodeNormalMap")
    nmap.uv_map = "UVMap"
    tree.links.new(tex["normal"].outputs["Color"], nmap.inputs["Color"])
    rough = nodes.new("ShaderNodeMath")
    rough.operation = "MULTIPLY"
    rough.inputs[1].default_value = rough_scale
    sss = nodes.new("ShaderNodeMath")
    sss.operation = "MULTIPLY"
    sss.inputs[1].default_value = sss_scale
    tree.links.new(tex["roughness"].outputs["Color"], rough.inputs[0])
    tree.links.new(tex["subsurface"].outputs["Color"], sss.inputs[0])
    coat_map = None
    if not coat:                               # skin: oily coat where the roughness map is low
        coat_map = nodes.new("ShaderNodeMapRange")
        coat_map.clamp = True
        (lo, hi), (c_lo, c_hi) = SKIN_COAT_FROM_ROUGHNESS
        coat_map.inputs["From Min"].default_value, coat_map.inputs["From Max"].default_value = lo, hi
        coat_map.inputs["To Min"].default_value, coat_map.inputs["To Max"].default_value = c_lo, c_hi
        tree.links.new(tex["roughness"].outputs["Color"], coat_map.inputs["Value"])
    aov = nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = HAND_AOV
    aov.inputs["Value"].default_value = 1.0
    return dict(mat=mat, tree=tree, bsdf=bsdf, tex=tex, nmap=nmap, rough=rough, sss=sss,
                rough_scale=rough_scale, sss_scale=sss_scale, coat_map=coat_map)


class SkinMaterials:
    """Material slot 0 = skin, slot 1 = nail (the view assigns faces by the mesh's nail part)."""

    def __init__(self, subsurface_method: str = "RANDOM_WALK_SKIN"):
        self.skin = _make_material("skin", 1.0, 1.0, None, subsurface_method)
        self.nail = _make_material("nail", NAIL_ROUGHNESS_SCALE, NAIL_SUBSURFACE_SCALE, NAIL_COAT, subsurface_method)

    @property
    def subsurface_method(self) -> str:
        return self.skin["bsdf"].subsurface_method

    @subsurface_method.setter
    def subsurface_method(self, method: str) -> None:
        for m in (self.skin, self.nail):
            m["bsdf"].subsurface_method = method

    @property
    def slots(self) -> list:
        return [self.skin["mat"], self.nail["mat"]]

    def apply(self, appearance: dict, image) -> None:
        """Set both materials from an appearance dict; ``image(path, colorspace)`` loads a map."""
        maps = appearance.get("maps") or {}
        radius = appearance.get("subsurface_radius_m", DEFAULT_SUBSURFACE_RADIUS_M)
        if len(radius) != 3:
            raise ValueError(f"appearance['subsurface_radius_m'] must be [r, g, b], got {radius!r}")
        if not maps and "color" not in appearance:
            raise ValueError("appearance needs 'maps' (base_color, normal, roughness, subsurface "
                             "paths) or a flat linear 'color' [r, g, b]")
        unknown = set(maps) - set(MAP_KEYS)
        if unknown:
            raise ValueError(f"appearance['maps'] has unknown keys {sorted(unknown)}")
        for m in (self.skin, self.nail):
            tree, bsdf, tex = m["tree"], m["bsdf"], m["tex"]
            bsdf.inputs["Subsurface Radius"].default_value = [float(x) for x in radius]
            if "base_color" in maps:
                tex["base_color"].image = image(maps["base_color"], "sRGB")
                link(tree, tex["base_color"].outputs["Color"], bsdf.inputs["Base Color"])
            else:
                unlink(tree, bsdf.inputs["Base Color"])
                bsdf.inputs["Base Color"].default_value = list(appearance.get("color", (0.5, 0.3, 0.25))) + [1.0]
            if "normal" in maps:
                tex["normal"].image = image(maps["normal"], "Non-Color")
                link(tree, m["nmap"].outputs["Normal"], bsdf.inputs["Normal"])
            else:
                unlink(tree, bsdf.inputs["Normal"])
            if "roughness" in maps:
                tex["roughness"].image = image(maps["roughness"], "Non-Color")
                link(tree, m["rough"].outputs["Value"], bsdf.inputs["Roughness"])
                if m["coat_map"] is not None:
                    link(tree, m["coat_map"].outputs["Result"], bsdf.inputs["Coat Weight"])
            else:
                unlink(tree, bsdf.inputs["Roughness"])
                bsdf.inputs["Roughness"].default_value = 0.45 * m["rough_scale"]
                if m["coat_map"] is not None:
                    unlink(tree, bsdf.inputs["Coat Weight"])
            if "subsurface" in maps:
                tex["subsurface"].image = image(maps["subsurface"], "Non-Color")
                link(tree, m["sss"].outputs["Value"], bsdf.inputs["Subsurface Weight"])
            else:
                unlink(tree, bsdf.inputs["Subsurface Weight"])
                bsdf.inputs["Subsurface Weight"].default_value = float(
                    appearance.get("subsurface_weight", 1.0)) * m["sss_scale"]
