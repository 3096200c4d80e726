"""The Blender view: turns vertices + lighting + background + appearance into Cycles renders.

The render room (generator/render/) is the only place that imports ``bpy``; this module holds the
scene and dispatches each lighting and background kind to its applier (generator/render/appliers/,
registered by the kind's name). Everything it is given is plain data (see the contract in
docs/RENDERING.md); everything it returns is numpy. Compositing, noise and the depth pass are
numpy functions in generator/render/postprocess.py.

Design (why it is fast): one Blender scene per process, kept alive across samples with
persistent data; the hand mesh is built once per topology and only its vertex coordinates are
rewritten per view; images (textures, HDRIs) are loaded once and cached by path; the shader and
world node trees are built once and only re-linked / re-valued. Cycles renders with a
transparent film into a multilayer EXR in /dev/shm (premultiplied linear RGBA, depth, normals,
environment); the background is composited behind the hand in numpy in *linear light*, then
Blender's own colour management (AgX by default) makes the 8-bit image.

Frames: the camera is a Blender camera at the origin, upright, looking along world +y (so the
world's up axis, +z, is the image's up direction for HDRIs and skies). A point X in the OpenCV
camera frame (x right, y down, z forward) sits at world ``Rz(rig) @ WORLD_FROM_CV @ X``: an HDRI
rotation about the up axis is applied by turning the camera rig (camera, hand, lights) the other
way rather than the world, because any change to the world makes Cycles rebuild its light
importance map (seconds for a 1k HDRI). Likewise the world strength of HDRI and sky lighting is
applied in numpy (all light then comes from the world, so scaling is exact), so the two views of
a pair and successive samples on one HDRI never rebuild it.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import bpy
import mathutils
import numpy as np
import OpenEXR
from PIL import Image

from generator import conventions
from generator.colour import linear_to_srgb
from generator.native_output import native_output_silenced
from generator.hand.base import PART_INDEX
from generator.render import appliers, parts_pass, postprocess
from generator.render.appliers.skin import HAND_AOV, SkinMaterials
from generator.render.distractors import DistractorPool
from generator.render.wear import WearPool
from generator.render.nodes import require, set_if_changed
from generator.render.presets import DEVICES, GPU_PREFERENCE, PRESETS

# Blender camera frame -> world: the default upright camera rotation (90 deg about world x).
_WORLD_FROM_BLENDER_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
WORLD_FROM_CV = _WORLD_FROM_BLENDER_CAMERA @ conventions.CV_TO_BLENDER_CAMERA


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


MAX_CACHED_IMAGES = 24     # a render uses at most 5 (4 skin maps + 1 HDRI)
FPS = 30   # the scene's frame rate; motion blur spans one frame (see _set_options)


class DeviceUnavailable(RuntimeError):
    """A named render device was requested but Cycles cannot use it on this machine."""


# --- devices -----------------------------------------------------------------------------------

def _cycles_prefs():
    return bpy.context.preferences.addons["cycles"].preferences


def available_devices() -> list[str]:
    """Render devices Cycles can use here, best first; always ends with "cpu"."""
    prefs = _cycles_prefs()
    found = []
    for name in GPU_PREFERENCE:
        try:
            devices = prefs.get_devices_for_type(name.upper())
        except (TypeError, ValueError, KeyError):   # backend not compiled into this build
            continue
        if any(d.type == name.upper() for d in devices):
            found.append(name)
    return found + ["cpu"]


def select_device(name: str = "auto") -> str:
    """Validate a device name and return the device to use; "auto" picks the best available.

    A named device that is absent raises DeviceUnavailable: never a silent CPU fallback.
    """
    key = str(name).lower()
    if key not in DEVICES:
        raise ValueError(f"unknown render device {name!r}; choose one of {', '.join(DEVICES)}")
    available = available_devices()
    if key == "auto":
        chosen = available[0]
        print(f"cyclehand: render device auto -> {chosen} (available: {', '.join(available)})",
              file=sys.stderr)
        return chosen
    if key not in available:
        raise DeviceUnavailable(
            f"render device {key!r} was requested but Cycles found no {key.upper()} device on this "
            f"machine (available: {', '.join(available)}); use --device auto or --device cpu")
    return key


def _configure_device(scene, device: str) -> None:
    prefs = _cycles_prefs()
    if device == "cpu":
        prefs.compute_device_type = "NONE"
        scene.cycles.device = "CPU"
        return
    prefs.compute_device_type = device.upper()
    for d in prefs.get_devices_for_type(device.upper()):
        d.use = d.type == device.upper()
    scene.cycles.device = "GPU"


# --- small helpers -----------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_stdout():
    """Cycles prints a progress line per tile to stdout; keep it out of the user's terminal."""
    if os.environ.get("CYCLEHAND_BLENDER_VERBOSE"):
        yield
        return
    with native_output_silenced(1):
        yield


# --- the view ----------------------------------------------------------------------------------

class BlenderView:
    """One Cycles scene per process; render() many views of one (or a few) hand topologies.

    Only one BlenderView may be alive in a process: creating one resets Blender's data, and an
    older instance then refuses to render (rather than crash on freed Blender data).
    """

    _generation = 0

    def __init__(self, device: str = "auto", preset: str = "default", resolution=None,
                 samples: int | None = None, workdir=None, threads: int | None = None,
                 view_transform: str = "AgX", look: str = "None"):
        if preset not in PRESETS:
            raise ValueError(f"unknown quality preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.preset_name = preset
        self.preset = dict(PRESETS[preset])
        self.resolution = tuple(resolution) if resolution is not None else self.preset["resolution"]
        self.samples = int(samples) if samples is not None else self.preset["samples"]
        self.device = select_device(device)
        shm = Path("/dev/shm")
        base = workdir if workdir is not None else (shm if shm.is_dir() else None)
        self.workdir = Path(tempfile.mkdtemp(prefix="cyclehand-view-", dir=base))
        self._exr = self.workdir / "view.exr"
        self._png = self.workdir / "view.png"
        self.view_transform = view_transform
        self._images: collections.OrderedDict = collections.OrderedDict()
        self._num_vertices = None
        self._meshes: dict[str, object] = {}     # topology hash -> mesh (e.g. right and left hand)
        BlenderView._generation += 1
        self._my_generation = BlenderView._generation
        self._build_scene(threads, view_transform, look)

    def _check_alive(self):
        if self._my_generation != BlenderView._generation:
            raise RuntimeError("this BlenderView was replaced by a newer one in this process "
                               "(one Blender scene per process); use the newest instance")

    # ---- scene construction (once) ----
    def _build_scene(self, threads, view_transform, look):
        with _quiet_stdout():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        self.scene = scene
        scene.render.engine = "CYCLES"
        _configure_device(scene, self.device)
        r = scene.render
        r.use_persistent_data = True          # keep BVH/shaders/images across renders
        r.film_transparent = True             # alpha = hand coverage; background composited later
        r.use_compositing = False
        r.use_sequencer = False
        r.resolution_percentage = 100
        r.fps, r.fps_base = FPS, 1.0
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        # several workers on one machine should split the cores: threads= or the environment
        threads = threads or int(os.environ.get("CYCLEHAND_RENDER_THREADS", "0") or 0)
        if threads:
            r.threads_mode, r.threads = "FIXED", int(threads)
        fmt = r.image_settings
        fmt.file_format = "OPEN_EXR_MULTILAYER"
        fmt.color_depth = "32"
        fmt.exr_codec = "NONE"                # /dev/shm: compression only costs time
        r.filepath = str(self._exr)
        r.use_file_extension = False
        scene.view_settings.view_transform = view_transform
        scene.view_settings.look = look
        scene.display_settings.display_device = "sRGB"

        vl = scene.view_layers[0]
        vl.use_pass_z = True
        vl.use_pass_environment = True
        vl.use_pass_diffuse_direct = True      # the light on the hand, for the exposure meter
        vl.use_pass_diffuse_indirect = True
        vl.use_pass_normal = False
        aov = vl.aovs.add()        # hand coverage: the hand's materials write 1, nothing else does
        aov.name, aov.type = HAND_AOV, "VALUE"
        parts_pass.add_parts_layer(scene)

        c = scene.cycles
        c.use_animated_seed = False
        c.caustics_reflective = c.caustics_refractive = False
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.sample_clamp_direct = 0.0
        c.use_adaptive_sampling = True
        self._apply_preset()

        # camera: at the origin, upright, looking along world +y
        cam_data = bpy.data.cameras.new("camera")
        cam_data.sensor_fit = "HORIZONTAL"
        cam_data.sensor_width = 36.0          # mm; only the ratio lens/sensor matters (35 mm equiv.)
        cam_data.clip_start, cam_data.clip_end = 0.005, 1000.0
        self.camera = bpy.data.objects.new("camera", cam_data)
        self.camera.rotation_euler = (math.pi / 2, 0.0, 0.0)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera

        # a second scene whose only job is colour management when saving the final 8-bit image
        cm = bpy.data.scenes.new("cyclehand_colour")
        cm.view_settings.view_transform = view_transform
        cm.view_settings.look = look
        cm.display_settings.display_device = "sRGB"
        cm.render.image_settings.file_format = "PNG"
        cm.render.image_settings.color_mode = "RGB"
        cm.render.image_settings.color_depth = "8"
        cm.render.image_settings.compression = 0
        self._cm_scene = cm
        self._cm_image = None

        self.hand = None
        self.skin = SkinMaterials(self.preset["subsurface"])
        self.distractors = DistractorPool(scene)
        self.wear = WearPool(scene)
        self._build_world()
        self._lights: list = []

    def _apply_preset(self, samples=None):
        p, c = self.preset, self.scene.cycles
        c.samples = int(samples or self.samples)
        c.adaptive_threshold = p["adaptive_threshold"]
        c.adaptive_min_samples = 0
        c.max_bounces = p["max_bounces"]
        c.diffuse_bounces = p["diffuse_bounces"]
        c.glossy_bounces = p["glossy_bounces"]
        c.transmission_bounces = p["transmission_bounces"]
        c.transparent_max_bounces = p["transparent_bounces"]
        c.volume_bounces = 0
        c.sample_clamp_indirect = p["clamp_indirect"]
        c.use_denoising = bool(p["denoise"])
        c.denoising_prefilter = p["denoise_prefilter"]

    def _build_world(self):
        world = bpy.data.worlds.new("world")
        self.scene.world = world
        world.use_nodes = True
        world.cycles.sampling_method = "MANUAL"
        world.cycles.sample_map_resolution = int(self.preset["world_map_resolution"])
        tree = world.node_tree
        nodes = tree.nodes
        bg = nodes["Background"]
        coord = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        env = nodes.new("ShaderNodeTexEnvironment")
        sky = nodes.new("ShaderNodeTexSky")
        sky.sky_type = "NISHITA"
        tree.links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
        tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        self.world = dict(world=world, tree=tree, bg=bg, mapping=mapping, env=env, sky=sky,
                          **self._sky_ground(tree, coord, sky))

    @staticmethod
    def _sky_ground(tree, coord, sky) -> dict:
        """Nodes of the ground under the Nishita sky (black there on its own): below the horizon
        the world shows ``albedo x luminance of the sky mirrored up`` (the sky without its sun
        disc, at the mirrored elevation; the applier folds the sun into the albedo's gain),
        blended into the sky over the first degree below the horizon."""
        nodes, links = tree.nodes, tree.links
        sep = nodes.new("ShaderNodeSeparateXYZ")
        links.new(coord.outputs["Generated"], sep.inputs["Vector"])
        up = nodes.new("ShaderNodeMath")
        up.operation = "ABSOLUTE"
        links.new(sep.outputs["Z"], up.inputs[0])
        mirrored = nodes.new("ShaderNodeCombineXYZ")
        links.new(sep.outputs["X"], mirrored.inputs["X"])
        links.new(sep.outputs["Y"], mirrored.inputs["Y"])
        links.new(up.outputs["Value"], mirrored.inputs["Z"])
        sky_up = nodes.new("ShaderNodeTexSky")
        sky_up.sky_type = "NISHITA"
        sky_up.sun_disc = False
        links.new(mirrored.outputs["Vector"], sky_up.inputs["Vector"])
        lum = nodes.new("ShaderNodeRGBToBW")
        links.new(sky_up.outputs["Color"], lum.inputs["Color"])
        ground = nodes.new("ShaderNodeVectorMath")
        ground.operation = "SCALE"
        ground.inputs["Vector"].default_value = (0.0, 0.0, 0.0)
        links.new(lum.outputs["Val"], ground.inputs["Scale"])
        below = nodes.new("ShaderNodeMapRange")
        below.interpolation_type = "SMOOTHSTEP"
        below.inputs["From Min"].default_value = -0.02
        below.inputs["From Max"].default_value = 0.0
        below.inputs["To Min"].default_value = 1.0
        below.inputs["To Max"].default_value = 0.0
        links.new(sep.outputs["Z"], below.inputs["Value"])
        mix = nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        # the Mix node has a socket of each name per data type: pick the colour ones by identifier
        socket = {s.identifier: s for s in list(mix.inputs) + list(mix.outputs)}
        links.new(below.outputs["Result"], socket["Factor_Float"])
        links.new(sky.outputs["Color"], socket["A_Color"])
        links.new(ground.outputs["Vector"], socket["B_Color"])
        return dict(sky_up=sky_up, ground=ground, sky_ground=socket["Result_Color"])

    # ---- per-topology ----
    def set_topology(self, faces, uvs, parts, part_ids=None) -> None:
        """Build the hand mesh: triangles, per-corner UVs, skin/nail material slots, smooth shading,
        and per-face part ids for the part-ID pass (generator.parts; default: palm)."""
        self._check_alive()
        faces = np.ascontiguousarray(faces, dtype=np.int32)
        uvs = np.ascontiguousarray(uvs, dtype=np.float32)
        parts = np.asarray(parts)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must be (F, 3), got {faces.shape}")
        if uvs.shape != (len(faces), 3, 2):
            raise ValueError(f"uvs must be (F, 3, 2) = {(len(faces), 3, 2)}, got {uvs.shape}")
        if parts.ndim != 1:
            raise ValueError(f"parts must be (V,), got {parts.shape}")
        n_v = len(parts)
        if faces.min() < 0 or faces.max() >= n_v:
            raise ValueError(f"faces index vertices outside 0..{n_v - 1} (parts has {n_v} entries)")
        part_ids = np.ones(len(faces), np.uint8) if part_ids is None else np.asarray(part_ids, np.uint8)
        if part_ids.shape != (len(faces),):
            raise ValueError(f"part_ids must be (F,) = ({len(faces)},), got {part_ids.shape}")
        key = hashlib.blake2b(faces.tobytes() + uvs.tobytes() + parts.astype(np.int32).tobytes()
                              + part_ids.tobytes(), digest_size=16).hexdigest()
        mesh = self._meshes.get(key)
        if mesh is None:
            mesh = self._build_mesh(faces, uvs, parts)
            parts_pass.set_face_ids(mesh, part_ids)
            self._meshes[key] = mesh
        if self.hand is None:
            self.hand = bpy.data.objects.new("hand", mesh)
            self.scene.collection.objects.link(self.hand)
        elif self.hand.data != mesh:
            self.hand.data = mesh
        self._num_vertices = n_v

    def _build_mesh(self, faces, uvs, parts):
        n_v = len(parts)
        mesh = bpy.data.meshes.new("hand")
        mesh.vertices.add(n_v)
        mesh.loops.add(faces.size)
        mesh.polygons.add(len(faces))
        mesh.loops.foreach_set("vertex_index", faces.ravel())
        mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
        uv_layer = mesh.uv_layers.new(name="UVMap")
        uv_layer.data.foreach_set("uv", uvs.ravel())
        # a face is nail when most of its corners are nail vertices
        nail = (parts[faces] == PART_INDEX["nail"]).sum(axis=1) >= 2
        for mat in self.skin.slots:
            mesh.materials.append(mat)
        mesh.polygons.foreach_set("material_index", nail.astype(np.int32))
        mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
        mesh.update()
        return mesh

    # ---- per view ----
    def render(self, vertices, K, resolution=None, lighting=None, background=None,
               appearance=None, options=None, distractors=None, wear=None) -> dict:
        """Render one view; see the module docstring and docs/RENDERING.md for the dicts."""
        t0 = time.perf_counter()
        self._check_alive()
        if self.hand is None:
            raise RuntimeError("call set_topology(faces, uvs, parts) before render()")
        options = dict(options or {})
        W, H = (int(v) for v in (resolution if resolution is not None else self.resolution))
        v = self._check_vertices(vertices)
        self._set_lighting(lighting or {"kind": "studio", "lights": [], "ambient": 1.0})
        self.distractors.show(distractors or [], self._world_from_cv)
        self._set_vertices(v)
        self.wear.show(wear or [], self._world_from_cv, self.hand)
        self._set_camera(np.asarray(K, dtype=np.float64), W, H, options.get("dof"))
        self.skin.apply(appearance or {}, self.image)
        self._set_options(options, float(K[0][0]))
        passes = set(options.get("passes", ["depth"]))
        unknown = passes - {"depth", "normals"}
        if unknown:
            raise ValueError(f"options['passes'] has unknown entries {sorted(unknown)}; use depth, normals")
        vl = self.scene.view_layers[0]
        if vl.use_pass_normal != ("normals" in passes):
            vl.use_pass_normal = "normals" in passes
        self._exr.unlink(missing_ok=True)
        t_render = time.perf_counter()
        with _quiet_stdout():
            bpy.ops.render.render(write_still=True)
        render_seconds = time.perf_counter() - t_render
        if not self._exr.exists():
            raise RuntimeError(f"Cycles wrote no output to {self._exr}")
        ch = self._read_exr()
        out = self._finish(ch, W, H, background or {"kind": "hdri"}, options, passes)
        out["render_seconds"] = render_seconds
        out["total_seconds"] = time.perf_counter() - t0
        return out

    def _check_vertices(self, vertices) -> np.ndarray:
        v = np.asarray(vertices, dtype=np.float64)
        if v.shape != (self._num_vertices, 3):
            raise ValueError(f"vertices must be ({self._num_vertices}, 3) for this topology, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("vertices contain NaN or inf")
        self._centroid_cv = v.mean(axis=0)
        return v

    def _set_vertices(self, v: np.ndarray):
        world = (v @ self._world_from_cv.T).astype(np.float32)
        mesh = self.hand.data
        mesh.vertices.foreach_set("co", world.ravel())
        mesh.update()

    def _set_camera(self, K, W, H, dof):
        if K.shape != (3, 3):
            raise ValueError(f"K must be 3x3, got {K.shape}")
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        if abs(fx - fy) > 1e-6 * fx or abs(K[0, 1]) > 1e-9:
            raise ValueError(f"K must have square pixels and no skew (fx={fx}, fy={fy}, skew={K[0, 1]})")
        r = self.scene.render
        if (r.resolution_x, r.resolution_y) != (W, H):
            r.resolution_x, r.resolution_y = W, H
        cam = self.camera.data
        cam.lens = fx * cam.sensor_width / W
        # Blender's image plane spans [-W/2, W/2] (+ shift * W) in pixel units and pixel i's centre
        # is at i + 0.5 from the left edge; conventions put pixel centres at integers.
        cam.shift_x = ((W - 1) / 2.0 - cx) / W
        cam.shift_y = (cy - (H - 1) / 2.0) / W
        if dof:
            cam.dof.use_dof = True
            cam.dof.aperture_fstop = float(require(dof, "fstop", "options['dof']"))
            cam.dof.focus_distance = float(require(dof, "focus_distance", "options['dof']"))
        else:
            cam.dof.use_dof = False

    def image(self, path, colorspace):
        """Load an image once and keep it (LRU-bounded: HDRIs and 2k maps are large)."""
        key = (str(path), colorspace)
        img = self._images.pop(key, None)
        if img is None:
            if not Path(path).is_file():
                raise FileNotFoundError(f"image not found: {path}")
            img = bpy.data.images.load(str(path), check_existing=False)
            img.colorspace_settings.name = colorspace
            while len(self._images) >= MAX_CACHED_IMAGES:
                _, old = self._images.popitem(last=False)
                bpy.data.images.remove(old)
        self._images[key] = img          # most recently used last
        return img

    def _set_lighting(self, lighting):
        """The lighting kind's applier sets the world; the view then turns the rig, sets the world
        strength and places the area lights the applier asks for."""
        lit = appliers.applier("lighting", require(lighting, "kind", "lighting"))(self, lighting)
        bg = self.world["bg"]
        # world light strength: applied in numpy for hdri/sky (see module docstring)
        set_if_changed(bg.inputs["Strength"], "default_value", lit.world_strength)
        self._light_scale = lit.scale
        # Turning the rig by +rig about up shows the world as a world mapping rotation of +rig would.
        self._world_from_cv = _rot_z(lit.rig) @ WORLD_FROM_CV
        self.camera.rotation_euler = (math.pi / 2, 0.0, lit.rig)
        self._place_area_lights(lit.area_lights)

    def _place_area_lights(self, specs):
        while len(self._lights) < len(specs):
            data = bpy.data.lights.new(f"area{len(self._lights)}", "AREA")
            data.shape = "DISK"
            obj = bpy.data.objects.new(data.name, data)
            self.scene.collection.objects.link(obj)
            self._lights.append(obj)
        for i, obj in enumerate(self._lights):
            if i >= len(specs):
                obj.hide_render = True
                continue
            spec = specs[i]
            pos = np.asarray(require(spec, "position", f"lighting['lights'][{i}]"), dtype=np.float64)
            target = np.asarray(spec.get("target", self._centroid_cv), dtype=np.float64)
            obj.hide_render = False
            obj.location = self._world_from_cv @ pos
            direction = mathutils.Vector(self._world_from_cv @ (target - pos))
            obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()   # area lights emit along -z
            obj.data.size = float(spec.get("size", 0.3))
            obj.data.energy = float(require(spec, "power", f"lighting['lights'][{i}]"))
            obj.data.color = [float(x) for x in spec.get("color", (1.0, 1.0, 1.0))]

    def _set_options(self, options, fx: float):
        c, r = self.scene.cycles, self.scene.render
        samples = int(options.get("samples") or self.samples)
        if samples < 1:
            raise ValueError(f"options['samples'] must be >= 1, got {samples}")
        c.samples = samples
        denoise = options.get("denoise")
        c.use_denoising = bool(self.preset["denoise"] if denoise is None else denoise)
        c.seed = int(options.get("seed", 0)) % (2**31 - 1)
        blur = options.get("motion_blur")
        hand = self.hand
        if blur:
            # `motion_blur` is the blur length in pixels at the hand's depth: the hand moves rigidly
            # across the image plane in a seeded direction by that length during a one-frame
            # shutter. The annotated pose is the hand at mid-shutter.
            rng = conventions.rng(int(options.get("seed", 0)), 0, "motion_blur")
            a = rng.uniform(0, 2 * np.pi)
            per_frame = float(blur) * float(self._centroid_cv[2]) / float(fx)
            step = self._world_from_cv @ (np.array([np.cos(a), np.sin(a), 0.0]) * per_frame)
            hand.animation_data_clear()
            for frame, sign in ((0, -1.0), (2, 1.0)):
                hand.location = step * sign
                hand.keyframe_insert("location", frame=frame)
            for fc in hand.animation_data.action.fcurves:
                for kp in fc.keyframe_points:
                    kp.interpolation = "LINEAR"
            self.scene.frame_set(1)
            r.use_motion_blur = True
            r.motion_blur_shutter = 1.0
            r.motion_blur_position = "CENTER"
        else:
            if hand.animation_data is not None:
                hand.animation_data_clear()
            hand.location = (0.0, 0.0, 0.0)
            r.use_motion_blur = False

    # ---- read back and compose ----
    def _read_exr(self) -> dict[str, np.ndarray]:
        with OpenEXR.File(str(self._exr), separate_channels=True) as f:
            chans = f.channels()
            # the main layer's channels by pass name, the parts layer's with its layer name
            return {(name if name.startswith(parts_pass.LAYER + ".") else name.split(".", 1)[-1]):
                    np.array(c.pixels, dtype=np.float32) for name, c in chans.items()}

    def _finish(self, ch, W, H, background, options, passes) -> dict:
        scale = self._light_scale
        rgb_premult = np.stack([ch["Combined.R"], ch["Combined.G"], ch["Combined.B"]], axis=-1) * scale
        alpha = np.clip(ch["Combined.A"], 0.0, 1.0)
        env = np.stack([ch["Env.R"], ch["Env.G"], ch["Env.B"]], axis=-1) * scale
        layer = appliers.applier("background", require(background, "kind", "background"))
        bg = layer(background, env, W, H)
        linear = postprocess.composite_over(rgb_premult, alpha, bg)
        # the hand's coverage: its materials write 1 to the hand AOV, distractors nothing; Cycles
        # averages the first hit of every camera sample, so an occluder's pixels drop out
        hand_alpha = np.clip(ch[f"{HAND_AOV}.X"], 0.0, 1.0)
        mask = hand_alpha >= 0.5
        exposure, meter = 1.0, "fixed"
        if options.get("exposure", "fixed") == "hand":
            light = np.stack([ch[f"DiffDir.{c}"] + ch[f"DiffInd.{c}"] for c in "RGB"], axis=-1) * scale
            exposure, meter = postprocess.metered_exposure(light, hand_alpha, mask, linear,
                                                          float(options.get("exposure_ev", 0.0)))
        rgb = self._display(linear * exposure)
        rgb = postprocess.sensor_noise(rgb, float(options.get("sensor_noise") or 0.0), int(options.get("seed", 0)))
        depth = postprocess.depth_from_pass(ch["Depth.Z"], mask)
        ids, ids_depth = parts_pass.read(ch)
        out = {"rgb": rgb, "mask": (mask * 255).astype(np.uint8), "depth": depth,
               "alpha": hand_alpha.astype(np.float32),
               "scene_depth": postprocess.depth_from_pass(ch["Depth.Z"], alpha >= 0.5),
               "parts": ids, "parts_depth": ids_depth, "exposure": {"factor": exposure, "meter": meter}}
        if "normals" in passes:
            n_world = np.stack([ch["Normal.X"], ch["Normal.Y"], ch["Normal.Z"]], axis=-1)
            n_cv = n_world @ self._world_from_cv    # = world_from_cv.T @ n, per pixel
            norm = np.linalg.norm(n_cv, axis=-1, keepdims=True)
            out["normals"] = np.where(mask[..., None], n_cv / np.maximum(norm, 1e-9), 0.0).astype(np.float32)
        return out

    def _display(self, linear: np.ndarray) -> np.ndarray:
        """Scene-linear (H, W, 3) -> 8-bit display RGB with the scene's view transform."""
        if self.view_transform == "Standard":
            return np.rint(linear_to_srgb(linear, np.float32) * 255.0).astype(np.uint8)
        H, W = linear.shape[:2]
        img = self._cm_image
        if img is None or tuple(img.size) != (W, H):
            if img is not None:
                bpy.data.images.remove(img)
            img = bpy.data.images.new("cyclehand_display", W, H, alpha=False, float_buffer=True)
            img.colorspace_settings.name = "Linear Rec.709"
            self._cm_image = img
        rgba = np.ones((H, W, 4), np.float32)
        rgba[..., :3] = linear[::-1]                  # Blender images are stored bottom row first
        img.pixels.foreach_set(rgba.ravel())
        img.update()
        img.save_render(str(self._png), scene=self._cm_scene)
        with Image.open(self._png) as im:
            return np.asarray(im.convert("RGB"))

    def close(self) -> None:
        for p in (self._exr, self._png):
            p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.workdir.rmdir()
