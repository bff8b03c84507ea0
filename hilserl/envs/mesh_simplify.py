"""Mesh decimation by vertex clustering, for cheap camera rendering of the arm's CAD meshes.

Vertices are snapped to a grid of ``cell`` metres and each occupied cell becomes one vertex (the
mean of its members); faces that collapse are dropped. It keeps the silhouette to within about one
cell, which is all a 128x128 camera can resolve at the arm's scale.
"""

from __future__ import annotations

import numpy as np


def cluster_decimate(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (vertices, faces) of the simplified mesh. ``faces`` index ``vertices`` (int, Nx3)."""
    if cell <= 0:
        raise ValueError(f"cell must be positive, got {cell}")
    keys = np.floor(vertices / cell).astype(np.int64)
    _, cluster, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    cluster = cluster.reshape(-1)
    sums = np.zeros((counts.size, 3))
    np.add.at(sums, cluster, vertices)
    new_vertices = sums / counts[:, None]
    new_faces = cluster[faces]
    keep = (
        (new_faces[:, 0] != new_faces[:, 1])
        & (new_faces[:, 1] != new_faces[:, 2])
        & (new_faces[:, 0] != new_faces[:, 2])
    )
    new_faces = new_faces[keep]
    _, first = np.unique(np.sort(new_faces, axis=1), axis=0, return_index=True)
    new_faces = new_faces[np.sort(first)]
    used, remap = np.unique(new_faces, return_inverse=True)
    return new_vertices[used], remap.reshape(-1, 3).astype(np.int32)
