"""What the arm wears, as geometry: sleeves (with a cuff near the wrist) and wrist accessories
(watch, bracelet), built per view from the posed arm's own rings, so they follow the arm wherever
the wrist bends it. Pure numpy: the sample room draws the plain-data specs (generator.sample.kinds
wear_*), the render worker turns them into meshes here, the Blender appliers only upload them.

Positions along the arm are distances from the wrist keypoint toward the elbow, measured along
the arm's axis (the line through the arm rings' centres). A ring at any such distance is the
linear interpolation of the two arm rings around it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

SLEEVE_RINGS_MAX_STEP_M = 0.02      # the sleeve keeps the arm's rings, plus one at its cuff
FOLD_AMPLITUDE = 0.04               # relative radius change of a sleeve's folds


@dataclasses.dataclass
class ArmFrame:
    """The posed arm of one view: its rings (vertices, centre) and their distances from the wrist."""
    rings: np.ndarray          # (R, N, 3) camera-frame ring vertices, wrist side first (loop upsampled)
    centres: np.ndarray        # (R, 3)
    distance: np.ndarray       # (R,) metres from the wrist keypoint along the arm axis
    axis: np.ndarray           # (3,) unit, wrist -> elbow

    @classmethod
    def of(cls, arm, vertices: np.ndarray, wrist: np.ndarray) -> "ArmFrame":
        """From a generator.hand.arm.Arm, the view's vertices (V, 3) and its wrist keypoint."""
        v = np.asarray(vertices, np.float64)
        loop = v[arm.loop]
        fine = np.empty((2 * len(loop), 3))
        fine[0::2], fine[1::2] = loop, (loop + np.roll(loop, -1, axis=0)) / 2
        rings = np.stack([fine] + [v[ids] for ids in arm._ring_ids[1:]])
        centres = rings.mean(axis=1)
        axis = centres[-1] - centres[0]
        axis /= np.linalg.norm(axis)
        return cls(rings=rings, centres=centres, distance=(centres - np.asarray(wrist)) @ axis, axis=axis)

    def ring_at(self, d: float) -> np.ndarray:
        """(N, 3) the arm's cross-section at distance d (clamped to the arm)."""
        d = float(np.clip(d, self.distance[0], self.distance[-1]))
        k = int(np.clip(np.searchsorted(self.distance, d) - 1, 0, len(self.distance) - 2))
        t = (d - self.distance[k]) / max(self.distance[k + 1] - self.distance[k], 1e-12)
        return (1 - t) * self.rings[k] + t * self.rings[k + 1]


def _grow(ring: np.ndarray, scale, offset: float) -> np.ndarray:
    """A ring pushed out from its centre: radius * scale + offset (scale may vary per vertex)."""
    c = ring.mean(axis=0)
    r = ring - c
    n = np.linalg.norm(r, axis=1, keepdims=True)
    return c + r * np.asarray(scale).reshape(-1, 1) + r / np.maximum(n, 1e-12) * offset


def _tube(rings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of a tube through rings of equal vertex count (open ends)."""
    n = len(rings[0])
    verts = np.concatenate(rings)
    faces = []
    i = np.arange(n)
    for k in range(len(rings) - 1):
        a, b = k * n + i, k * n + (i + 1) % n
        a2, b2 = a + n, b + n
        faces += [np.stack([a, b, a2], 1), np.stack([b, b2, a2], 1)]
    return verts, np.concatenate(faces)


def sleeve_mesh(frame: ArmFrame, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """A sleeve from its cuff (``start_m`` from the wrist) to the arm's cut: the arm's rings grown
    by ``looseness`` and ``thickness_m``, with soft folds (``folds`` phase), open at the cuff."""
    start = float(spec["start_m"])
    ds = [start] + [d for d in frame.distance if d > start + 1e-4]
    dense = [ds[0]]
    for d in ds[1:]:                       # at least every SLEEVE_RINGS_MAX_STEP_M
        steps = int(np.ceil((d - dense[-1]) / SLEEVE_RINGS_MAX_STEP_M))
        dense += list(np.linspace(dense[-1], d, steps + 1)[1:])
    n = frame.rings.shape[1]
    theta = np.arange(n) * 2 * np.pi / n
    phase = float(spec.get("folds", 0.0))
    rings = []
    for d in dense:
        fold = 1 + FOLD_AMPLITUDE * np.sin(3 * theta + phase + 25.0 * d) * np.sin(np.pi * min(1.0, (d - start) / 0.05 + 0.5))
        rings.append(_grow(frame.ring_at(d), float(spec["looseness"]) * fold, float(spec["thickness_m"])))
    return _tube(rings)


def band_mesh(frame: ArmFrame, at_m: float, width_m: float, gap_m: float, thickness_m: float):
    """A closed band (bracelet, watch strap) around the arm: ``width_m`` along it centred at
    ``at_m``, its inner face ``gap_m`` off the skin, ``thickness_m`` thick (4 rings, closed)."""
    r0, r1 = frame.ring_at(at_m - width_m / 2), frame.ring_at(at_m + width_m / 2)
    inner = [_grow(r0, 1.0, gap_m), _grow(r1, 1.0, gap_m)]
    outer = [_grow(r0, 1.0, gap_m + thickness_m), _grow(r1, 1.0, gap_m + thickness_m)]
    return _tube([inner[0], outer[0], outer[1], inner[1], inner[0]])


def case_mesh(frame: ArmFrame, at_m: float, radius_m: float, height_m: float, palmar: bool,
              palmar_direction: np.ndarray, gap_m: float, segments: int = 24):
    """A watch case: a short closed cylinder on the arm's dorsal (or palmar) side at ``at_m``,
    its axis along the surface normal there."""
    ring = frame.ring_at(at_m)
    c = ring.mean(axis=0)
    up = np.asarray(palmar_direction, np.float64) * (1.0 if palmar else -1.0)
    up = up - np.dot(up, frame.axis) * frame.axis
    up /= np.linalg.norm(up)
    top = ring[np.argmax((ring - c) @ up)]
    base = c + np.dot(top - c, up) * up + up * gap_m
    e1 = frame.axis
    e2 = np.cross(up, e1)
    a = np.arange(segments) * 2 * np.pi / segments
    circle = radius_m * (np.cos(a)[:, None] * e1 + np.sin(a)[:, None] * e2)
    bottom, lid = base + circle, base + circle + up * height_m
    verts, faces = _tube([bottom, lid])
    n = segments
    centres = np.stack([base, base + up * height_m])
    verts = np.concatenate([verts, centres])
    i = np.arange(n)
    caps = [np.stack([np.full(n, 2 * n), (i + 1) % n, i], 1), np.stack([np.full(n, 2 * n + 1), n + i, n + (i + 1) % n], 1)]
    return verts, np.concatenate([faces] + caps)


def wear_meshes(specs: list[dict], frame: ArmFrame, palmar_direction: np.ndarray) -> list[dict]:
    """Per wear item of a sample: {"kind", "part", "pieces": [{"vertices", "faces", "material"[,
    "smooth": False for hard-edged pieces]}]}
    in the view's camera frame. ``palmar_direction``: the palm's outward normal in this view (the
    canonical +z turned by the view's rotation)."""
    out = []
    for spec in specs:
        kind = spec["kind"]
        if kind == "sleeve":
            v, f = sleeve_mesh(frame, spec)
            pieces = [{"vertices": v, "faces": f, "material": spec["material"]}]
            part = "sleeve"
        elif kind == "watch":
            v, f = band_mesh(frame, spec["at_m"], spec["band_width_m"], 0.0015, spec["band_thickness_m"])
            cv, cf = case_mesh(frame, spec["at_m"], spec["case_radius_m"], spec["case_height_m"],
                               spec["palmar"], palmar_direction, 0.0015 + spec["band_thickness_m"])
            pieces = [{"vertices": v, "faces": f, "material": spec["band_material"]},
                      {"vertices": cv, "faces": cf, "material": spec["case_material"], "smooth": False}]
            part = "accessory"
        elif kind == "bracelet":
            v, f = band_mesh(frame, spec["at_m"], spec["width_m"], spec["gap_m"], spec["thickness_m"])
            pieces = [{"vertices": v, "faces": f, "material": spec["material"]}]
            part = "accessory"
        else:
            raise ValueError(f"wear kind {kind!r}: expected sleeve, watch or bracelet")
        out.append({"kind": kind, "part": part, "pieces": pieces})
    return out
