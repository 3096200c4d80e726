"""Compact linear blend skinning with anatomical joint frames (in the spirit of smplx's lbs).

Each bone j has a rest head h_j and an anatomical frame F_j = [a, d, n] (columns, rest pose):
d along the bone, n toward the palm side of the bone, a = d x n the flexion axis. A joint's
angles (flexion, abduction, twist) in degrees become the rotation F_j R_local F_j^T, applied
about h_j in the parent's posed frame. Batched numpy; no autograd needed for data generation.
Products go without BLAS (generator.hand.exact), so a pose skins to the same bits on every CPU.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from generator.hand.exact import matmul, matvec


def axis_angle_matrices(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices for unit axes (..., 3) and angles (...) in radians (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64)
    c, s = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(axis.shape[:-1] + (3, 3))
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1 - c) * matmul(k, k)


def local_rotations(angles_deg: np.ndarray) -> np.ndarray:
    """(B, J, 3) (flexion, abduction, twist) degrees -> (B, J, 3, 3) rotations in the joint frame.

    Frame axes: x = flexion axis, y = bone, z = palmar. Positive abduction is radial (toward -z
    rotation sense for a right hand, whose radial side is +x of the canonical frame).
    """
    rad = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    ex, ey, ez = np.eye(3)
    rx = axis_angle_matrices(np.broadcast_to(ex, rad.shape[:-1] + (3,)), rad[..., 0])
    rz = axis_angle_matrices(np.broadcast_to(ez, rad.shape[:-1] + (3,)), -rad[..., 1])
    ry = axis_angle_matrices(np.broadcast_to(ey, rad.shape[:-1] + (3,)), rad[..., 2])
    return matmul(matmul(rx, rz), ry)


def forward_kinematics(heads: np.ndarray, frames: np.ndarray, parents: list[int],
                       joint_of_bone: np.ndarray, angles_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posed bone transforms.

    heads: (B, K, 3) rest heads; frames: (K, 3, 3) anatomical frames (columns a, d, n);
    parents: parent bone per bone (-1 for the root, bones topologically sorted);
    joint_of_bone: (K,) index into the angle array, -1 for an unposed bone;
    angles_deg: (B, J, 3). Returns skinning matrices (B, K, 3, 4) mapping rest points to posed
    points, and posed heads (B, K, 3).
    """
    bsz, nbones = heads.shape[:2]
    local = local_rotations(angles_deg)                                  # (B, J, 3, 3)
    rot_world = np.empty((bsz, nbones, 3, 3))
    pos_world = np.empty((bsz, nbones, 3))
    for j in range(nbones):
        jr = joint_of_bone[j]
        r = matmul(matmul(frames[j], local[:, jr]), frames[j].T) if jr >= 0 else np.broadcast_to(np.eye(3), (bsz, 3, 3))
        p = parents[j]
        if p < 0:
            rot_world[:, j], pos_world[:, j] = r, heads[:, j]
        else:
            rot_world[:, j] = matmul(rot_world[:, p], r)
            pos_world[:, j] = pos_world[:, p] + matvec(
                rot_world[:, p], heads[:, j] - heads[:, p])
    # Skinning matrix: x -> R_j (x - h_j) + posed head_j
    trans = pos_world - np.einsum("bkij,bkj->bki", rot_world, heads)
    return np.concatenate([rot_world, trans[..., None]], axis=-1), pos_world


def skin(rest_vertices: np.ndarray, transforms: np.ndarray, bone_index: np.ndarray,
         bone_weight: np.ndarray) -> np.ndarray:
    """LBS with sparse weights: rest (B, V, 3), transforms (B, K, 3, 4), indices/weights (V, W)."""
    t = transforms[:, bone_index]                                        # (B, V, W, 3, 4)
    blended = np.einsum("vw,bvwij->bvij", bone_weight, t)                # (B, V, 3, 4)
    return np.einsum("bvij,bvj->bvi", blended[..., :3], rest_vertices) + blended[..., 3]


def smooth_weights(faces: np.ndarray, bone_index: np.ndarray, bone_weight: np.ndarray, n_bones: int,
                   movable: np.ndarray, iterations: int = 20, rate: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Skin weights diffused over the mesh (each step moves a `movable` vertex's weights `rate`
    of the way to its neighbours' mean), kept sparse with as many bones per vertex as before.

    Narrow blend zones make LBS fold a flexed joint's inner skin into the neighbouring segment;
    spreading the blend over a few edge rings bends the skin smoothly instead."""
    n_vertices, width = bone_index.shape
    dense = np.zeros((n_vertices, n_bones))
    np.add.at(dense, (np.repeat(np.arange(n_vertices), width), bone_index.ravel()), bone_weight.ravel())
    f = np.asarray(faces, dtype=np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_vertices, n_vertices)).tocsr()
    adj.data[:] = 1.0                                                    # each neighbour once
    mean = sp.diags(1.0 / np.maximum(np.asarray(adj.sum(1)).ravel(), 1)) @ adj
    for _ in range(iterations):
        dense[movable] = ((1 - rate) * dense + rate * (mean @ dense))[movable]
    index = np.argsort(-dense, axis=1)[:, :width]
    weight = np.take_along_axis(dense, index, 1)
    return index.astype(bone_index.dtype), weight / weight.sum(1, keepdims=True)
