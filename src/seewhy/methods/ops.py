"""Arithmetic and bookkeeping the methods share: weighted sums, channel reductions,
upsampling to the input, batch sizing and progress bars."""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seewhy.errors import MethodError


def weighted_sum(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """``sum_k weights[b, t, k] * A[b, k]``: (B, T, K) x (B, K, h, w) -> (B, T, h, w)."""
    return torch.einsum("btk,bkhw->bthw", weights, activations)


def maybe_relu(cam: torch.Tensor, relu: bool) -> torch.Tensor:
    return torch.relu(cam) if relu else cam


def max_abs_over_channels(attribution: torch.Tensor) -> torch.Tensor:
    """``max_c |a_c|``: (..., C, H, W) -> (..., H, W), Simonyan et al.'s map for gradients."""
    return attribution.abs().amax(dim=-3)


def sum_over_channels(attribution: torch.Tensor) -> torch.Tensor:
    """``sum_c a_c``: (..., C, H, W) -> (..., H, W), the signed map of additive attributions."""
    return attribution.sum(dim=-3)


def to_input_size(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, T, h, w) -> (B, T, H, W), bilinear with half-pixel centres, as the papers draw maps."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


#: Values per forward pass when ``batch_size=None``: 8 images of 3 x 224 x 224. Per-image
#: cost on the CPU is lowest around there (ResNet-50: 0.10 s at 8, 0.14 s at 1, 0.15 s at 40).
AUTO_VALUES = 8 * 3 * 224 * 224


def auto_batch_size(inputs: torch.Tensor, batch_size: int | None, values: int = AUTO_VALUES) -> int:
    """``batch_size``, or when None the number of copies of one of ``inputs``' rows that
    fit ``values`` values per pass."""
    if batch_size is not None:
        return batch_size
    per_image = max(1, inputs[0].numel())
    return max(1, values // per_image)


def spans(count: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges over ``count`` items, at most ``size`` each, as even as
    possible: 50 copies at 8 per pass run as 7 passes of 7 or 8, not 6 of 8 and one of 2
    (a nearly empty last pass costs almost a full one on the CPU)."""
    pieces = max(1, -(-count // max(1, size)))
    edges = [count * i // pieces for i in range(pieces + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def check_batch_size(batch_size: int | None) -> None:
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MethodError(f"batch_size must be a positive int or None, got {batch_size!r}")


#: Copies per call from which a perturbation method shows a progress bar by default.
LONG_WORK = 256


def work_bar(total: int, desc: str, progress: bool | None) -> tqdm:
    """A progress bar over ``total`` copies, shown when ``progress`` (None: for long work)."""
    show = progress if progress is not None else total >= LONG_WORK
    return tqdm(total=total, desc=desc, unit="copy", disable=not show, leave=False)


def image_seeds(images: torch.Tensor, seed: int) -> list[int]:
    """One 63-bit seed per image of ``images`` (B, ...): the BLAKE2b digest of ``seed`` and
    the image's values (as float32 bytes). The same image and seed give the same seed
    wherever the image sits (its row, the batch size, the other images, the shard), so
    seeded noise is a function of the image alone."""
    values = images.detach().to("cpu", torch.float32).contiguous().numpy()
    key = int(seed).to_bytes(16, "little", signed=True)
    return [
        int.from_bytes(hashlib.blake2b(image.tobytes(), digest_size=8, key=key).digest(), "little")
        >> 1
        for image in values
    ]
