"""The elimination plan of an H x W grid for ROAD's imputation systems: a nested
dissection (George, "Nested dissection of a regular finite element mesh", SIAM J. Numer.
Anal. 1973) whose smallest rectangles, the *leaves*, are condensed with dense algebra
before the sparse factorization of what is left (the separators).

The grid is cut by its middle column or row (the longer side), each half again, down to
rectangles of at most :data:`LEAF` pixels. One line of pixels separates two halves for the
8-neighbour stencil, so the leaves do not touch each other: each couples only to its
*ring*, the pixels around it (all on separators). For a removed set ``R`` the system
``A x = b`` of :mod:`seewhy.metrics.imputation`, split into leaf pixels ``L`` and separator
pixels ``S``, is solved as

.. math::
    (A_{SS} - A_{SL} A_{LL}^{-1} A_{LS})\\, x_S = b_S - A_{SL} A_{LL}^{-1} b_L, \\qquad
    x_L = A_{LL}^{-1} (b_L - A_{LS} x_S)

with ``A_LL`` block diagonal (one dense block per leaf) and the Schur complement factorized
by SuperLU in nested-dissection order. Everything here depends on H and W only and is
cached (:func:`plan`): the leaves' algebra and the Schur complement with every pixel
removed. A mask enters as 0/1 factors: a kept pixel's row and column drop out (it is a
known value), so a leaf whose pixels are all removed keeps the plan's ``A_LL^-1``
whatever its ring, and only the leaves on the edge of the removed region are solved anew
(:func:`seewhy.metrics.imputation.solve_system`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sparse

__all__ = [
    "LEAF",
    "NEIGHBOURS",
    "Plan",
    "dissection_order",
    "leaf_weights",
    "plan",
    "stencil_sum",
]

#: (row offset, column offset, weight) of the 8 neighbours (the authors' weights).
NEIGHBOURS = (
    (-1, -1, 1 / 12),
    (-1, 0, 1 / 6),
    (-1, 1, 1 / 12),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (1, -1, 1 / 12),
    (1, 0, 1 / 6),
    (1, 1, 1 / 12),
)

#: rectangles of at most this many pixels end the dissection (condensed densely).
LEAF = 36


def _cuts(height: int, width: int) -> tuple[list[list[np.ndarray]], list[tuple[int, ...]]]:
    """The separators by depth and the leaf rectangles (r0, r1, c0, c1) of the grid."""
    grid = np.arange(height * width).reshape(height, width)
    depths: list[list[np.ndarray]] = []
    leaves = []
    stack = [(0, 0, height, 0, width)]
    while stack:
        depth, r0, r1, c0, c1 = stack.pop()
        rows, cols = r1 - r0, c1 - c0
        if rows * cols <= LEAF:
            separator = grid[r0:r1, c0:c1].reshape(-1)
            leaves.append((r0, r1, c0, c1))
        elif cols >= rows:
            mid = c0 + cols // 2
            separator = grid[r0:r1, mid]
            stack += [(depth + 1, r0, r1, c0, mid), (depth + 1, r0, r1, mid + 1, c1)]
        else:
            mid = r0 + rows // 2
            separator = grid[mid, c0:c1]
            stack += [(depth + 1, r0, mid, c0, c1), (depth + 1, mid + 1, r1, c0, c1)]
        depths += [[] for _ in range(depth + 1 - len(depths))]
        depths[depth].append(separator)
    return depths, leaves


@lru_cache(maxsize=16)
def dissection_order(height: int, width: int) -> np.ndarray:
    """(H*W,) the pixels in a nested-dissection elimination order: every cut after both
    of its halves (deepest cuts first), the leaves first of all."""
    depths, _ = _cuts(height, width)
    order = np.concatenate([part for level in reversed(depths) for part in level])
    order.setflags(write=False)
    return order


def stencil_sum(values: np.ndarray) -> np.ndarray:
    """``sum_j w_ij values_j`` over each pixel's in-image neighbours ``j``, for (..., H, W)
    ``values`` (the pixels outside the image count as 0)."""
    height, width = values.shape[-2:]
    pad = [(0, 0)] * (values.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(values, pad)
    total = np.zeros(values.shape)
    for dr, dc, weight in NEIGHBOURS:
        total += weight * padded[..., 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
    return total


def _degree(height: int, width: int) -> np.ndarray:
    """(H*W + 1,) each pixel's sum of in-image neighbour weights, then 0 (padding)."""
    return np.append(stencil_sum(np.ones((height, width))).reshape(-1), 0.0)


def leaf_weights(
    first: np.ndarray, second: np.ndarray, width: int, degree: np.ndarray
) -> np.ndarray:
    """``A_ij`` with every pixel removed, for pixel arrays of the same shape (padding
    ``n = len(degree) - 1`` gives 0): the degree on the diagonal, ``-w_ij`` for neighbours."""
    n = degree.size - 1
    real = (first < n) & (second < n)
    dr = first // width - second // width
    dc = first % width - second % width
    near = real & (np.abs(dr) <= 1) & (np.abs(dc) <= 1)
    table = np.zeros((3, 3))
    for r, c, weight in NEIGHBOURS:
        table[r + 1, c + 1] = -weight
    out = np.where(near, table[np.clip(dr, -1, 1) + 1, np.clip(dc, -1, 1) + 1], 0.0)
    return np.where(real & (first == second), degree[np.minimum(first, n)], out)


@dataclass(frozen=True)
class Plan:
    """The cached elimination plan of an H x W grid (``n = H * W`` is the padding pixel).

    Attributes:
        leaf_pixels: (K, B) the pixels of each leaf, padded with ``n``.
        ring_pixels: (K, R) the pixels around each leaf inside the image, padded with ``n``.
        degree: (H*W + 1,) each pixel's sum of in-image neighbour weights, then 0.
        leaf_ring: (K, R, B) ``A_rL``: the ring's couplings to the leaf.
        separators: (S,) the separator pixels in elimination order.
        schur: (S, S) CSR pattern of ``A_SS`` plus every leaf's ring clique.
        clique_slots: (K, R, R) where each ring-pair entry goes in ``schur.data`` (``nnz``
            for padding).
        ring_slots: (K, R) each ring pixel's separator index (``S`` for padding).
        leaf_inverse: (K, B, B) ``A_LL^-1`` of each leaf with all its pixels removed.
        to_ring: (K, B, R) ``A_LL^-1 A_Lr`` of each leaf with all its pixels removed.
        clique: (K, R, R) ``A_rL A_LL^-1 A_Lr`` of each leaf with all its pixels removed.
        removed_schur: (nnz,) ``schur.data`` with every pixel removed.
    """

    height: int
    width: int
    leaf_pixels: np.ndarray
    ring_pixels: np.ndarray
    degree: np.ndarray
    leaf_ring: np.ndarray
    separators: np.ndarray
    schur: sparse.csr_matrix
    clique_slots: np.ndarray
    ring_slots: np.ndarray
    leaf_inverse: np.ndarray
    to_ring: np.ndarray
    clique: np.ndarray
    removed_schur: np.ndarray


@lru_cache(maxsize=1)  # about 60 MB at 224 x 224: one size kept (another costs 0.27 s to plan)
def plan(height: int, width: int) -> Plan:
    """The elimination plan of an ``height`` x ``width`` grid (see the module)."""
    n = height * width
    grid = np.arange(n).reshape(height, width)
    _, leaves = _cuts(height, width)
    degree = _degree(height, width)
    blocks = [grid[r0:r1, c0:c1].reshape(-1) for r0, r1, c0, c1 in leaves]
    rings = []
    for r0, r1, c0, c1 in leaves:
        around = grid[max(r0 - 1, 0) : r1 + 1, max(c0 - 1, 0) : c1 + 1]
        inside = grid[r0:r1, c0:c1]
        rings.append(np.setdiff1d(around, inside))
    width_leaf = max(len(b) for b in blocks)
    width_ring = max(max(len(r) for r in rings), 1)
    leaf_pixels = np.full((len(blocks), width_leaf), n)
    ring_pixels = np.full((len(blocks), width_ring), n)
    for k, (block, ring) in enumerate(zip(blocks, rings)):
        leaf_pixels[k, : len(block)] = block
        ring_pixels[k, : len(ring)] = ring
    leaf_block = leaf_weights(leaf_pixels[:, :, None], leaf_pixels[:, None, :], width, degree)
    leaf_ring = leaf_weights(ring_pixels[:, :, None], leaf_pixels[:, None, :], width, degree)

    in_leaf = np.zeros(n + 1, dtype=bool)
    in_leaf[leaf_pixels] = True
    in_leaf[n] = False
    order = dissection_order(height, width)
    separators = order[~in_leaf[order]]
    index = np.full(n + 1, -1)
    index[separators] = np.arange(separators.size)
    # A_SS: each separator pixel with itself and its separator neighbours
    rows, cols = np.divmod(separators, width)
    stencil_rows, stencil_cols, stencil_weights = [np.arange(separators.size)], [], []
    stencil_cols.append(np.arange(separators.size))
    stencil_weights.append(degree[separators])
    for dr, dc, weight in NEIGHBOURS:
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        neighbour = np.where(inside, r * width + c, n)
        partner = index[neighbour]
        keep = partner >= 0
        stencil_rows.append(np.flatnonzero(keep))
        stencil_cols.append(partner[keep])
        stencil_weights.append(np.full(int(keep.sum()), -weight))
    s_rows, s_cols = np.concatenate(stencil_rows), np.concatenate(stencil_cols)
    ring_index = index[ring_pixels]  # (K, R), -1 for padding
    pair_rows = np.broadcast_to(ring_index[:, :, None], (*ring_index.shape, ring_index.shape[1]))
    pair_cols = np.broadcast_to(ring_index[:, None, :], pair_rows.shape)
    real = (pair_rows >= 0) & (pair_cols >= 0)
    count = separators.size
    keys = np.sort(np.concatenate([s_rows * count + s_cols, (pair_rows * count + pair_cols)[real]]))
    keys = keys[np.append(keys[:1] == keys[:1], keys[1:] != keys[:-1])]  # np.unique, unhashed
    schur = sparse.csr_matrix(
        (np.zeros(keys.size), (keys // count, keys % count)), shape=(count, count)
    )
    schur.has_sorted_indices = True
    clique_slots = np.full(pair_rows.shape, keys.size)
    clique_slots[real] = np.searchsorted(keys, (pair_rows * count + pair_cols)[real])
    real = leaf_pixels < n
    full_block = leaf_block.copy()  # not kept: 20 MB at 224 px, rebuilt for the edge leaves
    diagonal = np.arange(leaf_pixels.shape[1])
    full_block[:, diagonal, diagonal] += ~real  # padding: identity rows
    # a leaf without a ring is the whole image: all removed is no system (never asked)
    full_block[:, diagonal, diagonal] += (ring_pixels == n).all(1)[:, None]
    leaf_inverse = np.linalg.inv(full_block)
    to_ring = leaf_inverse @ leaf_ring.transpose(0, 2, 1)
    clique = leaf_ring @ to_ring
    stencil_slots = np.searchsorted(keys, s_rows * count + s_cols)
    removed_schur = np.bincount(
        np.concatenate([stencil_slots, clique_slots.reshape(-1)]),
        weights=np.concatenate([np.concatenate(stencil_weights), -clique.reshape(-1)]),
        minlength=keys.size + 1,
    )[: keys.size]
    return Plan(
        height=height,
        width=width,
        leaf_pixels=leaf_pixels,
        ring_pixels=ring_pixels,
        degree=degree,
        leaf_ring=leaf_ring,
        separators=separators,
        schur=schur,
        clique_slots=clique_slots,
        ring_slots=np.where(ring_index >= 0, ring_index, count),
        leaf_inverse=leaf_inverse,
        to_ring=to_ring,
        clique=clique,
        removed_schur=removed_schur,
    )
