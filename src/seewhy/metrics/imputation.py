"""Noisy linear imputation, ROAD's way of filling removed pixels (Rong et al. 2022,
https://arxiv.org/abs/2202.00449; the authors' ``NoisyLinearImputer``, which pytorch-grad-cam
ships unchanged).

Every removed pixel becomes the weighted mean of its 8 neighbours inside the image (weight
1/6 for the 4 direct ones, 1/12 for the diagonals, renormalized over the neighbours that
exist at the border), removed neighbours included, so the removed pixels ``R`` of a channel
solve one sparse linear system

.. math::
    \\Big(\\sum_{j \\in N(i)} w_{ij}\\Big) x_i - \\sum_{j \\in N(i) \\cap R} w_{ij} x_j
    = \\sum_{j \\in N(i) \\setminus R} w_{ij} v_j \\qquad (i \\in R)

(``v`` the kept values); then ``N(0, noise^2)`` is added to each removed value. The matrix
is the same for every channel, symmetric positive definite (a weighted graph Laplacian with
the kept pixels as Dirichlet values), so no pivoting is needed; every channel is solved
from one factorization.

How it is solved (:func:`solve_system`): the grid's nested dissection
(:mod:`seewhy.metrics.dissection`, planned once per H x W) ends in leaves of at most
:data:`~seewhy.metrics.dissection.LEAF` pixels that touch only separator lines. The leaves
are condensed onto the separators with dense algebra (Schur complement), the rest is one
SuperLU factorization in nested-dissection order. A leaf whose pixels are all removed (the
inside of a removed region) has mask-independent algebra, precomputed in the plan; only the
leaves on the edge of the removed region are solved per mask. Measured on one core for a
224 x 224 image (a smooth 7 x 7 map upsampled, MoRF + LeRF at 10..90 %, 18 masks): 1.1-1.3 s
in all, against 2.1-2.3 s for SuperLU with minimum degree on the whole system (0.12 s
against 0.27 s at 90 % removed; about the same at 10 %), plus 0.3 s once for the plan
(60 MB at 224 px, kept for the last size). Images of more than :data:`PLANNED_PIXELS` pixels are
solved without a plan, by SuperLU on each mask's whole system (:func:`solve_whole`).
The factorization of the separators is still most of it. A batched full-grid multifrontal
Cholesky in torch, multigrid-preconditioned CG and float32 factorizations with refinement
were tried and were no faster on the CPU (memory-bound or Python-bound). Most of a solve
releases the GIL: two threads solving masks side by side take about 0.6 of the time of one
after the other (18 masks: 1.2 s against 2.0 s on 2 cores), which :func:`seewhy.metrics.road`
uses to impute a batch ahead while the model scores the one before.

The reference's quirks, for whoever compares: its mask is 1 for the pixels *kept*
(``removed_mask`` here is True for the removed ones); its ``weighting=`` argument is stored
and ignored (the module's global weights are used); its noise is ``torch.randn_like``,
unseeded. With ``noise=0`` the two give the same values (``tests/metrics/test_road.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sparse
import torch
from scipy.sparse.linalg import splu

from seewhy.errors import OptionError
from seewhy.metrics.dissection import NEIGHBOURS, leaf_weights, plan, stencil_sum

__all__ = ["road_impute"]


def kept_sum(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """(C, H*W + 1) ``sum_{j in N(i), j kept} w_ij v_j`` at every pixel ``i``, then 0."""
    channels = image.shape[0]
    total = stencil_sum(image * ~removed)
    return np.concatenate([total.reshape(channels, -1), np.zeros((channels, 1))], axis=1)


def solve_system(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """(C, H*W) ``image`` (C, H, W) with its ``removed`` (H, W) pixels replaced by the
    solution of the imputation system, by the leaf condensation of
    :mod:`seewhy.metrics.dissection`.

    A leaf whose pixels are all removed uses the plan's precomputed ``A_LL^-1`` (the ring's
    kept pixels only drop rows and columns that are never read); only the leaves on the
    edge of the removed region (some pixels kept) are solved here, and the Schur complement
    is the plan's all-removed one corrected for the leaves that are not all removed.
    """
    channels, height, width = image.shape
    layout = plan(height, width)
    n = height * width
    out = image.reshape(channels, -1).copy()
    mask = np.append(removed.reshape(-1), False)
    rhs = kept_sum(image, removed)
    real = layout.leaf_pixels < n
    in_leaf = mask[layout.leaf_pixels]
    in_ring = mask[layout.ring_pixels]
    removed_count = in_leaf.sum(1)
    full = removed_count == real.sum(1)
    edge = np.flatnonzero(~full & (removed_count > 0))
    whole = np.flatnonzero(full)
    # the edge leaves: dense blocks, identity rows for their kept (and padding) pixels
    part = in_leaf[edge].astype(np.float64)
    pixels = layout.leaf_pixels[edge]
    block = leaf_weights(pixels[:, :, None], pixels[:, None, :], width, layout.degree)
    block *= part[:, :, None] * part[:, None, :]
    diagonal = np.arange(block.shape[1])
    block[:, diagonal, diagonal] += 1 - part
    coupling = layout.leaf_ring[edge] * in_ring[edge][:, :, None] * part[:, None, :]  # A_rL
    leaf_rhs = rhs[:, layout.leaf_pixels].transpose(1, 2, 0)  # (K, B, C)
    ring = coupling.shape[1]
    solved = np.linalg.solve(
        block, np.concatenate([coupling.transpose(0, 2, 1), leaf_rhs[edge] * part[..., None]], 2)
    )
    edge_to_ring, edge_only = solved[..., :ring], solved[..., ring:]
    whole_only = layout.leaf_inverse[whole] @ leaf_rhs[whole]  # A_LL^-1 b_L
    # the separators: the Schur complement and its right-hand side
    count = layout.separators.size
    x_separators = np.zeros((count + 1, channels))
    chosen = np.flatnonzero(mask[layout.separators])
    if chosen.size:
        touched = in_ring.any(1)
        empty = np.flatnonzero(touched & (removed_count == 0))
        near = touched[edge]
        correction = np.concatenate(
            [
                layout.clique[empty].reshape(-1),
                (layout.clique[edge[near]] - coupling[near] @ edge_to_ring[near]).reshape(-1),
            ]
        )
        slots = np.concatenate(
            [layout.clique_slots[empty].reshape(-1), layout.clique_slots[edge[near]].reshape(-1)]
        )
        nnz = layout.schur.nnz
        data = layout.removed_schur + np.bincount(slots, correction, minlength=nnz + 1)[:nnz]
        schur = sparse.csr_matrix(
            (data, layout.schur.indices, layout.schur.indptr), layout.schur.shape
        )
        spread = np.concatenate(
            [
                (layout.leaf_ring[whole] @ whole_only).reshape(-1, channels),
                (coupling @ edge_only).reshape(-1, channels),
            ]
        )
        targets = np.concatenate(
            [layout.ring_slots[whole].reshape(-1), layout.ring_slots[edge].reshape(-1)]
        )
        separator_rhs = rhs[:, layout.separators].T - np.stack(
            [
                np.bincount(targets, spread[:, c], minlength=count + 1)[:count]
                for c in range(channels)
            ],
            axis=1,
        )
        matrix = schur[chosen][:, chosen].T  # symmetric: the CSR transpose is its CSC form
        factor = splu(
            matrix.tocsc(),
            permc_spec="NATURAL",  # already in nested-dissection order
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        x_separators[chosen] = factor.solve(separator_rhs[chosen])
        out[:, layout.separators[chosen]] = x_separators[chosen].T
    x_whole = whole_only - layout.to_ring[whole] @ x_separators[layout.ring_slots[whole]]
    x_edge = edge_only - edge_to_ring @ x_separators[layout.ring_slots[edge]]
    inside = real[whole]
    out[:, layout.leaf_pixels[whole][inside]] = x_whole[inside].T
    inside = in_leaf[edge]
    out[:, layout.leaf_pixels[edge][inside]] = x_edge[inside].T
    return out


#: images of more pixels are solved without a plan (its memory grows with the image:
#: about 60 MB at 224 x 224), by SuperLU on the whole system of each mask.
PLANNED_PIXELS = 300 * 300


def whole_system(removed: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray]:
    """The matrix of one mask's system and the removed pixels' flat indices (its unknowns)."""
    h, w = removed.shape
    flat = removed.reshape(-1)
    unknown = np.flatnonzero(flat)
    count = unknown.size
    variable = np.full(h * w, -1, dtype=np.int64)
    variable[unknown] = np.arange(count)
    rows, cols = np.divmod(unknown, w)
    diagonal = np.zeros(count)
    entries_i, entries_j, entries_v = [], [], []
    for dr, dc, weight in NEIGHBOURS:
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        diagonal[inside] += weight
        equations = np.flatnonzero(inside)
        neighbour = r[inside] * w + c[inside]
        missing = flat[neighbour]
        entries_i.append(equations[missing])
        entries_j.append(variable[neighbour[missing]])
        entries_v.append(np.full(int(missing.sum()), -weight))
    diagonal_index = np.arange(count)
    matrix = sparse.csc_matrix(
        (
            np.concatenate([*entries_v, diagonal]),
            (
                np.concatenate([*entries_i, diagonal_index]),
                np.concatenate([*entries_j, diagonal_index]),
            ),
        ),
        shape=(count, count),
    )
    return matrix, unknown


def solve_whole(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """(C, H*W) as :func:`solve_system`, by SuperLU (minimum degree on ``A + A^T``) on the
    whole system: slower, but its memory only grows with the removed pixels."""
    channels = image.shape[0]
    out = image.reshape(channels, -1).copy()
    matrix, unknown = whole_system(removed)
    rhs = kept_sum(image, removed)[:, unknown].T
    factor = splu(
        matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
    )
    out[:, unknown] = factor.solve(rhs).T
    return out


def impute_one(
    image: np.ndarray, removed: np.ndarray, noise: np.ndarray, rng: np.random.Generator | None
) -> np.ndarray:
    """(C, H, W) float64 ``image`` with its ``removed`` (H, W) pixels imputed."""
    channels = image.shape[0]
    if not removed.any():
        return image.copy()
    small = removed.size <= PLANNED_PIXELS
    out = solve_system(image, removed) if small else solve_whole(image, removed)
    if rng is not None:
        holes = np.flatnonzero(removed)
        out[:, holes] += noise[:, None] * rng.standard_normal((channels, holes.size))
    return out.reshape(image.shape)


def noise_per_channel(noise: float | Sequence[float], channels: int) -> np.ndarray:
    values = np.atleast_1d(np.asarray(noise, dtype=np.float64))
    if values.size == 1:
        values = np.repeat(values, channels)
    if values.size != channels or (values < 0).any():
        raise OptionError(f"noise must be one number >= 0 or one per channel, got {noise!r}")
    return values


def road_impute(
    images: torch.Tensor,
    removed_mask: torch.Tensor,
    noise: float | Sequence[float] = 0.01,
    seed: int = 0,
) -> torch.Tensor:
    """Noisy linear imputation (see :mod:`seewhy.metrics.imputation`) of ``images`` (N, C, H, W)
    or (C, H, W) where ``removed_mask`` (N, H, W) or (H, W) is True.

    ``noise`` is the standard deviation added to the removed values, in the units of
    ``images`` (one number, or one per channel); image ``i`` draws it from
    ``numpy.random.default_rng([seed, i])``. With ``noise=0`` the result is exactly the
    sparse solve. Returns a new tensor of the images' dtype and device.
    """
    single = images.dim() == 3
    batch = images[None] if single else images
    masks = torch.as_tensor(removed_mask)
    masks = masks[None] if masks.dim() == 2 else masks
    if batch.dim() != 4 or tuple(masks.shape) != (batch.shape[0], *batch.shape[2:]):
        raise OptionError(
            f"road_impute needs images (N, C, H, W) and a removed_mask (N, H, W) of the same "
            f"N, H, W, got {tuple(images.shape)} and {tuple(torch.as_tensor(removed_mask).shape)}"
        )
    sigma = noise_per_channel(noise, batch.shape[1])
    pixels = batch.detach().cpu().double().numpy()
    holes = masks.detach().cpu().numpy().astype(bool)
    if holes.reshape(holes.shape[0], -1).all(axis=1).any():
        raise OptionError("road_impute needs at least one kept pixel per image")
    out = np.stack(
        [
            impute_one(pixels[i], holes[i], sigma, np.random.default_rng([seed, i]))
            for i in range(batch.shape[0])
        ]
    )
    result = torch.from_numpy(out).to(images.device, images.dtype)
    return result[0] if single else result
