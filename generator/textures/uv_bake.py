"""Bake a mesh's surface into its UV space: per texel, which face, barycentrics, 3D position,
normal and tangent frame; plus padding (dilation) of UV islands.

Image convention: row 0 is the top of the image, i.e. v = 1 (UV v grows upward, as in Blender).
Texel (row r, col c) samples UV ((c + 0.5) / W, 1 - (r + 0.5) / H).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage


@dataclasses.dataclass
class UVBake:
    resolution: int
    face: np.ndarray          # (H, W) int32, -1 where no face covers the texel
    bary: np.ndarray          # (H, W, 3) float32 barycentrics of the texel centre in its face
    mask: np.ndarray          # (H, W) bool, texel inside some UV island
    position: np.ndarray      # (H, W, 3) float32 surface point (metres)
    normal: np.ndarray        # (H, W, 3) float32 unit surface normal (interpolated vertex normals)
    tangent: np.ndarray       # (H, W, 3) float32 unit dP/du direction (per face)
    bitangent: np.ndarray     # (H, W, 3) float32 unit dP/dv direction (per face)
    metres_per_uv: np.ndarray  # (H, W, 2) float32 |dP/du|, |dP/dv| (per face)
    fill: np.ndarray          # (H*W,) int64: flat index of the nearest island texel (padding)
    faces: np.ndarray
    uvs: np.ndarray
    _corner_vertex: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def interpolate(self, vertex_values: np.ndarray) -> np.ndarray:
        """Barycentric interpolation of per-vertex values (V, ...) to texels (H, W, ...)."""
        vals = np.asarray(vertex_values, dtype=np.float32)
        if self._corner_vertex is None:
            self._corner_vertex = self.faces[np.where(self.face >= 0, self.face, 0)]  # (H, W, 3)
        out = None
        for k in range(3):
            b = self.bary[..., k].reshape(self.bary.shape[:2] + (1,) * (vals.ndim - 1))
            term = vals[self._corner_vertex[..., k]] * b
            out = term if out is None else out + term
        return out

    def pad(self, image: np.ndarray) -> np.ndarray:
        """Fill every texel outside the islands with its nearest island texel (seamless mips and
        bilinear lookups at island borders)."""
        flat = image.reshape((-1,) + image.shape[2:])
        return flat[self.fill].reshape(image.shape)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])  # area weighted
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def rasterize_faces(uvs: np.ndarray, resolution: int) -> np.ndarray:
    """(H, W) int32 face index per texel (-1 = empty), drawn with Pillow's polygon filler."""
    H = W = int(resolution)
    img = Image.new("I", (W, H), 0)
    draw = ImageDraw.Draw(img)
    # pixel centres are at integer coordinates in Pillow: x = u W - 0.5, y = (1 - v) H - 0.5
    xy = np.empty(uvs.shape, dtype=np.float64)
    xy[..., 0] = uvs[..., 0] * W - 0.5
    xy[..., 1] = (1.0 - uvs[..., 1]) * H - 0.5
    for i, tri in enumerate(xy):
        draw.polygon([tuple(p) for p in tri], fill=i + 1)
    return np.asarray(img, dtype=np.int32) - 1


def bake(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, resolution: int) -> UVBake:
    """Bake positions, normals and tangent frames of a mesh with per-corner UVs (F, 3, 2)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    uvs = np.asarray(uvs, dtype=np.float64)
    if uvs.shape != (len(faces), 3, 2):
        raise ValueError(f"uvs must have shape (F, 3, 2) = {(len(faces), 3, 2)}, got {uvs.shape}")
    H = W = int(resolution)
    face = rasterize_faces(uvs, resolution)
    mask = face >= 0
    if not mask.any():
        raise ValueError("no UV island covers any texel: are the UVs inside the unit square?")

    # barycentrics of each texel centre in its face's UV triangle (clamped: Pillow's edge pixels
    # may sit a fraction outside; clamping keeps them on the edge, so values stay continuous)
    rows, cols = np.nonzero(mask)
    f = face[rows, cols]
    p = np.stack([(cols + 0.5) / W, 1.0 - (rows + 0.5) / H], axis=1)
    a, b, c = uvs[f, 0], uvs[f, 1], uvs[f, 2]
    v0, v1, v2 = b - a, c - a, p - a
    d00 = (v0 * v0).sum(1); d01 = (v0 * v1).sum(1); d11 = (v1 * v1).sum(1)
    d20 = (v2 * v0).sum(1); d21 = (v2 * v1).sum(1)
    den = d00 * d11 - d01 * d01
    den = np.where(np.abs(den) < 1e-30, 1e-30, den)
    w1 = (d11 * d20 - d01 * d21) / den
    w2 = (d00 * d21 - d01 * d20) / den
    bc = np.clip(np.stack([1 - w1 - w2, w1, w2], 1), 0.0, None)
    bc /= np.maximum(bc.sum(1, keepdims=True), 1e-12)
    bary = np.zeros((H, W, 3), np.float32)
    bary[rows, cols] = bc

    # per-face tangent frame from the UV Jacobian: dP = T du + B dv
    P = vertices[faces]                                    # (F, 3, 3)
    e1, e2 = P[:, 1] - P[:, 0], P[:, 2] - P[:, 0]
    du1, dv1 = uvs[:, 1, 0] - uvs[:, 0, 0], uvs[:, 1, 1] - uvs[:, 0, 1]
    du2, dv2 = uvs[:, 2, 0] - uvs[:, 0, 0], uvs[:, 2, 1] - uvs[:, 0, 1]
    det = du1 * dv2 - du2 * dv1
    det = np.where(np.abs(det) < 1e-20, 1e-20, det)
    T = (e1 * dv2[:, None] - e2 * dv1[:, None]) / det[:, None]
    B = (e2 * du1[:, None] - e1 * du2[:, None]) / det[:, None]
    tl, bl = np.linalg.norm(T, axis=1), np.linalg.norm(B, axis=1)

    fz = np.where(mask, face, 0)
    out = UVBake(
        resolution=H, face=face, bary=bary, mask=mask,
        position=np.zeros((H, W, 3), np.float32), normal=np.zeros((H, W, 3), np.float32),
        tangent=(T / np.maximum(tl, 1e-12)[:, None]).astype(np.float32)[fz],
        bitangent=(B / np.maximum(bl, 1e-12)[:, None]).astype(np.float32)[fz],
        metres_per_uv=np.stack([tl, bl], 1).astype(np.float32)[fz],
        fill=np.zeros(1, np.int64), faces=faces, uvs=uvs.astype(np.float32),
    )
    out.position = out.interpolate(vertices)
    n = out.interpolate(vertex_normals(vertices, faces))
    out.normal = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    idx = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    out.fill = (idx[0] * W + idx[1]).ravel().astype(np.int64)
    for name in ("position", "normal", "tangent", "bitangent", "metres_per_uv"):
        setattr(out, name, out.pad(getattr(out, name)))
    return out


def sample_bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an (H, W, ...) image at UV points (N, 2), with this module's texel
    convention (what a renderer does with the map)."""
    H, W = image.shape[:2]
    x = uv[:, 0] * W - 0.5
    y = (1.0 - uv[:, 1]) * H - 0.5
    x0 = np.clip(np.floor(x).astype(int), 0, W - 2); y0 = np.clip(np.floor(y).astype(int), 0, H - 2)
    fx = np.clip(x - x0, 0, 1); fy = np.clip(y - y0, 0, 1)
    if image.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    im = image.astype(np.float64)
    return ((im[y0, x0] * (1 - fx) + im[y0, x0 + 1] * fx) * (1 - fy)
            + (im[y0 + 1, x0] * (1 - fx) + im[y0 + 1, x0 + 1] * fx) * fy)


def seam_edges(faces: np.ndarray, uvs: np.ndarray, tol: float = 1e-6) -> list[tuple]:
    """Edges shared by two faces whose UVs differ there: [(face_a, corner pair a, face_b, pair b)]."""
    seen: dict[tuple[int, int], tuple[int, int, int]] = {}
    seams = []
    for fi, tri in enumerate(np.asarray(faces)):
        for k in range(3):
            i, j = int(tri[k]), int(tri[(k + 1) % 3])
            key = (min(i, j), max(i, j))
            if key in seen:
                fa, ka, ja = seen[key]
                # corners of the same vertices in both faces
                ca = (ka, ja) if faces[fa][ka] == key[0] else (ja, ka)
                cb = (k, (k + 1) % 3) if i == key[0] else ((k + 1) % 3, k)
                if np.abs(uvs[fa][list(ca)] - uvs[fi][list(cb)]).max() > tol:
                    seams.append((fa, ca, fi, cb))
            else:
                seen[key] = (fi, k, (k + 1) % 3)
    return seams
