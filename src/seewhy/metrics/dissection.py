"""A batched direct solver for ROAD's imputation systems: nested dissection of the image
grid, multifrontal Cholesky with dense fronts in torch (George, "Nested dissection of a
regular finite element mesh", SIAM J. Numer. Anal. 1973; Duff and Reid, "The multifrontal
solution of indefinite sparse symmetric linear equations", ACM TOMS 1983).

Every mask's system (:mod:`seewhy.metrics.imputation`) is written on the whole H x W grid:
a removed pixel ``i`` keeps its row of the imputation system, a kept pixel becomes the
identity row ``x_i = v_i`` and its couplings are dropped (moved into the right-hand side),

.. math::
    A_{ii} = m_i \\sum_{j \\in N(i)} w_{ij} + (1 - m_i), \\qquad
    A_{ij} = -w_{ij}\\, m_i m_j, \\qquad
    b_i = m_i \\sum_{j \\in N(i)} w_{ij} (1 - m_j) v_j + (1 - m_i) v_i

(``m`` 1 on the removed pixels). ``A`` is symmetric positive definite and, whatever the
mask, has the sparsity of the 9-point stencil on the grid, so one elimination plan serves
every mask and image of a size (:func:`plan`, cached per H, W): the grid is cut in two by
a row or column (the separator) again and again down to small leaves; a tree node
eliminates its separator after its two halves. Its *front* is its separator ``S`` and the
ring ``h`` of points around its rectangle (all on its ancestors' separators); the front's
matrix is the original entries of the separator's rows plus the children's update
matrices, and eliminating ``S`` is dense algebra,

.. math::
    L_S L_S^T = F_{SS}, \\qquad X = L_S^{-1} F_{Sh}, \\qquad U = F_{hh} - X^T X ,

``U`` going to the parent. All the nodes at one depth of the tree and all the masks of a
batch are one batched ``cholesky`` / ``solve_triangular`` / ``matmul`` (fronts padded to
the largest at that depth with identity rows). The solve is the same tree forwards
(``z_S = L_S^{-1} b_S``, ``b_h -= X^T z_S``) and backwards
(``x_S = L_S^{-T}(z_S - X x_h)``) for all channels at once. It is exact (a Cholesky
factorization, no pivoting needed: ``A`` is SPD) and agrees with SuperLU to ~1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

__all__ = ["plan", "solve_masks"]

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

#: rectangles of at most this many pixels are leaves (eliminated as one dense front).
LEAF = 16


@dataclass(frozen=True)
class Level:
    """The tree nodes at one depth, their fronts padded to the same size.

    ``n`` (the number of pixels) stands for a padding slot in every index.
    """

    separators: torch.Tensor  # (m, s) flat pixel indices
    rings: torch.Tensor  # (m, r) flat pixel indices
    entry_target: torch.Tensor  # (E,) flat positions in (m, f, f) of original entries
    entry_row: torch.Tensor  # (E,) the pixel of the entry's row
    entry_col: torch.Tensor  # (E,) the pixel of its column (== row: the diagonal)
    entry_weight: torch.Tensor  # (E,) w_ij (0 on the diagonal)
    child_target: torch.Tensor  # (m_child * r_child^2,) flat positions in (m, f, f), or m f f


@dataclass(frozen=True)
class Plan:
    """The elimination plan of an H x W grid: levels from the deepest to the root."""

    height: int
    width: int
    levels: tuple[Level, ...]
    degree: torch.Tensor  # (H*W + 1,) each pixel's sum of in-image neighbour weights, then 0


Node = tuple[int, list[int], tuple[int, int, int, int], int]


def _split(height: int, width: int) -> list[Node]:
    """(depth, separator pixels, rectangle, parent) of every tree node, parents first."""
    nodes: list[Node] = []
    stack = [(0, 0, height, 0, width, -1)]
    while stack:
        depth, r0, r1, c0, c1, parent = stack.pop()
        here = len(nodes)
        rows, cols = r1 - r0, c1 - c0
        if rows * cols <= LEAF:
            separator = [r * width + c for r in range(r0, r1) for c in range(c0, c1)]
        elif cols >= rows:
            mid = c0 + cols // 2
            separator = [r * width + mid for r in range(r0, r1)]
            stack += [(depth + 1, r0, r1, c0, mid, here), (depth + 1, r0, r1, mid + 1, c1, here)]
        else:
            mid = r0 + rows // 2
            separator = [mid * width + c for c in range(c0, c1)]
            stack += [(depth + 1, r0, mid, c0, c1, here), (depth + 1, mid + 1, r1, c0, c1, here)]
        nodes.append((depth, separator, (r0, r1, c0, c1), parent))
    return nodes


def _ring(rect: tuple[int, int, int, int], height: int, width: int) -> list[int]:
    """The pixels around the rectangle inside the image (its neighbours outside it)."""
    r0, r1, c0, c1 = rect
    ring = []
    for r in range(max(r0 - 1, 0), min(r1 + 1, height)):
        for c in range(max(c0 - 1, 0), min(c1 + 1, width)):
            if not (r0 <= r < r1 and c0 <= c < c1):
                ring.append(r * width + c)
    return ring


@lru_cache(maxsize=8)
def plan(height: int, width: int) -> Plan:
    """The nested-dissection elimination plan of an ``height`` x ``width`` grid."""
    n = height * width
    nodes = _split(height, width)
    depths = max(node[0] for node in nodes) + 1
    by_depth: list[list[int]] = [[] for _ in range(depths)]
    for index, node in enumerate(nodes):
        by_depth[node[0]].append(index)
    rings = [_ring(node[2], height, width) for node in nodes]
    grid = np.arange(n).reshape(height, width)
    levels = []
    child_rings: list[list[int]] | None = None
    child_width = 0
    for depth in range(depths - 1, -1, -1):
        members = by_depth[depth]
        s = max(len(nodes[i][1]) for i in members)
        r = max(max((len(rings[i]) for i in members), default=0), 1)
        f = s + r
        separators = np.full((len(members), s), n, dtype=np.int64)
        ring_index = np.full((len(members), r), n, dtype=np.int64)
        targets, entry_row, entry_col, weights = [], [], [], []
        position = {}  # (node position at this depth, pixel) -> slot in its front
        for k, i in enumerate(members):
            separator, ring = nodes[i][1], rings[i]
            separators[k, : len(separator)] = separator
            ring_index[k, : len(ring)] = ring
            for t in range(len(separator), s):  # padding: identity rows (pixel n)
                targets.append(k * f * f + t * f + t)
                entry_row.append(n)
                entry_col.append(n)
                weights.append(0.0)
            front = {p: t for t, p in enumerate(separator)}
            front.update({p: s + t for t, p in enumerate(ring)})
            for p, t in front.items():
                position[(k, p)] = t
            for p in separator:
                row, col = divmod(p, width)
                t = front[p]
                targets.append(k * f * f + t * f + t)
                entry_row.append(p)
                entry_col.append(p)
                weights.append(0.0)
                for dr, dc, weight in NEIGHBOURS:
                    rr, cc = row + dr, col + dc
                    if 0 <= rr < height and 0 <= cc < width:
                        q = int(grid[rr, cc])
                        if q in front:
                            u = front[q]
                            targets.append(k * f * f + t * f + u)
                            entry_row.append(p)
                            entry_col.append(q)
                            weights.append(weight)
        # the children's update matrices (the level below) into these fronts
        if child_rings is None:
            child_target = np.zeros(0, dtype=np.int64)
        else:
            parent_of = {}
            for k, i in enumerate(members):
                parent_of[i] = k
            child_target = np.full(len(child_rings) * child_width**2, len(members) * f * f)
            for c, (parent, ring) in enumerate(child_rings):
                k = parent_of[parent]
                slots = np.array([position[(k, p)] for p in ring], dtype=np.int64)
                base = c * child_width**2
                target = k * f * f + slots[:, None] * f + slots[None, :]
                rows = base + np.arange(len(ring))[:, None] * child_width
                child_target[(rows + np.arange(len(ring))[None, :]).ravel()] = target.ravel()
        levels.append(
            Level(
                separators=torch.from_numpy(separators),
                rings=torch.from_numpy(ring_index),
                entry_target=torch.tensor(targets, dtype=torch.int64),
                entry_row=torch.tensor(entry_row, dtype=torch.int64),
                entry_col=torch.tensor(entry_col, dtype=torch.int64),
                entry_weight=torch.tensor(weights, dtype=torch.float64),
                child_target=torch.from_numpy(child_target),
            )
        )
        child_rings = [(nodes[i][3], rings[i]) for i in members]
        child_width = r
    degree = np.zeros((height, width))
    padded = np.pad(np.ones((height, width)), 1)
    for dr, dc, weight in NEIGHBOURS:
        degree += weight * padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
    degree = torch.from_numpy(np.append(degree.reshape(-1), 0.0))
    return Plan(height, width, tuple(levels), degree)




def right_hand_side(removed: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(B, C, H*W) ``b``: the kept neighbours' weighted sum at the removed pixels, the
    value itself at the kept ones."""
    height, width = removed.shape[-2:]
    mask = removed[:, None].to(values.dtype)
    kept = values * (1 - mask)
    padded = torch.nn.functional.pad(kept, (1, 1, 1, 1))
    total = torch.zeros_like(values)
    for dr, dc, weight in NEIGHBOURS:
        total += weight * padded[..., 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
    return (kept + mask * total).flatten(2)


def factorize(layout: Plan, removed: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per level, ``(L_S, X)`` of every front of every mask of ``removed`` (B, H, W)."""
    batch = removed.shape[0]
    mask = torch.cat([removed.reshape(batch, -1).double(), torch.zeros(batch, 1)], 1)
    factors = []
    update = None
    for level in layout.levels:
        count, s = level.separators.shape
        f = s + level.rings.shape[1]
        row = mask[:, level.entry_row]
        diagonal = level.entry_row == level.entry_col
        entries = torch.where(
            diagonal,
            row * layout.degree[level.entry_row] + (1 - row),
            -level.entry_weight * row * mask[:, level.entry_col],
        )
        front = torch.zeros(batch, count * f * f + 1, dtype=torch.float64)
        front.index_add_(1, level.entry_target, entries)
        if update is not None:
            front.index_add_(1, level.child_target, update.reshape(batch, -1))
        front = front[:, :-1].view(batch, count, f, f)
        lower = torch.linalg.cholesky(front[..., :s, :s])
        coupling = torch.linalg.solve_triangular(lower, front[..., :s, s:], upper=False)
        update = torch.baddbmm(
            front[..., s:, s:].reshape(batch * count, f - s, f - s),
            coupling.transpose(-1, -2).reshape(batch * count, f - s, s),
            coupling.reshape(batch * count, s, f - s),
            alpha=-1,
        )
        factors.append((lower, coupling))
    return factors


def solve_masks(removed: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) float64: ``values`` with the ``removed`` (B, H, W) pixels replaced by the
    solution of the imputation system (:mod:`seewhy.metrics.dissection`)."""
    batch, channels, height, width = values.shape
    layout = plan(height, width)
    n = height * width
    factors = factorize(layout, removed)
    rhs = right_hand_side(removed, values)
    y = torch.cat([rhs, torch.zeros(batch, channels, 1, dtype=torch.float64)], 2)
    for (lower, coupling), level in zip(factors, layout.levels):
        b = y[:, :, level.separators].permute(0, 2, 3, 1)  # (B, m, s, C)
        z = torch.linalg.solve_triangular(lower, b, upper=False)
        y[:, :, level.separators] = z.permute(0, 3, 1, 2)
        spread = (coupling.transpose(-1, -2) @ z).permute(0, 3, 1, 2).reshape(batch, channels, -1)
        y.index_add_(2, level.rings.reshape(-1), spread, alpha=-1)
        y[..., n] = 0
    for (lower, coupling), level in zip(reversed(factors), reversed(layout.levels)):
        z = y[:, :, level.separators].permute(0, 2, 3, 1)
        outer = y[:, :, level.rings].permute(0, 2, 3, 1)
        x = torch.linalg.solve_triangular(lower.transpose(-1, -2), z - coupling @ outer, upper=True)
        y[:, :, level.separators] = x.permute(0, 3, 1, 2)
        y[..., n] = 0
    return y[..., :n].reshape(batch, channels, height, width)
