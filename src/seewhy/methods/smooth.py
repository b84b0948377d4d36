"""``smooth:<method>``: any method's outputs averaged over noisy copies of the input.

With ``n`` noisy copies ``x + eps_k``, ``eps_k ~ N(0, sigma^2)``,
``sigma = noise * (max(x) - min(x))`` per image (:class:`~seewhy.methods.noise.NoiseSource`),
the wrapper runs the method on every copy, with the targets resolved on the clean input,
and averages what it gives per image and target: maps, attributions and deltas (for CAM
methods the layer-resolution maps, so Smooth Grad-CAM++ here averages maps, where Omeiza et
al. average the gradients). Options ``n`` (50), ``noise`` (0.15, a share of each image's
range), ``seed``, ``batch_size`` (copies per pass; None: about 8 images of 224 x 224) and
``noise_tensors`` are the wrapper's, as in :func:`~seewhy.methods.smoothgrad.smoothgrad`;
any other option goes to the method.
"""

from __future__ import annotations

from typing import Any

import torch

from seewhy.methods.contract import MethodSpec, SmoothInputs
from seewhy.methods.noise import DEFAULT_N, DEFAULT_NOISE, NoiseSource, check_smoothing
from seewhy.methods.ops import auto_batch_size, spans

PREFIX = "smooth:"
#: The options the wrapper keeps for itself; any other goes to the wrapped method.
OPTIONS = ("n", "noise", "seed", "batch_size", "noise_tensors")


def smooth(
    inputs: SmoothInputs,
    n: int = DEFAULT_N,
    noise: float = DEFAULT_NOISE,
    seed: int | None = None,
    batch_size: int | None = None,
    noise_tensors: torch.Tensor | None = None,
    **options: Any,
) -> dict[str, dict[str, torch.Tensor]]:
    """The wrapped method's outputs, by kind and key, averaged over ``n`` noisy copies of
    each image: each (B, ...) like the method's own on the clean batch."""
    check_smoothing(n, noise, batch_size)
    chunk = auto_batch_size(inputs.inputs, batch_size)
    source = NoiseSource(inputs.inputs, n, noise, seed, noise_tensors)
    batch = inputs.inputs.shape[0]
    sums: dict[str, dict[str, torch.Tensor]] = {}
    for start, stop in spans(source.total, chunk):
        rows, noisy = source.take(start, stop)
        for kind, tensors in inputs.run(noisy, rows, options).items():
            for key, value in tensors.items():
                total = sums.setdefault(kind, {}).get(key)
                if total is None:
                    total = sums[kind][key] = value.new_zeros((batch, *value.shape[1:]))
                total.index_add_(0, rows.to(value.device), value)
    return {kind: {key: total / n for key, total in sums[kind].items()} for kind in sums}


def spec(inner: MethodSpec) -> MethodSpec:
    """The spec of ``smooth:<inner>``."""
    return MethodSpec(
        PREFIX + inner.name,
        smooth,
        "smooth",
        needs_gradients=False,
        needs_head=False,
        summary=f"{inner.name} averaged over noisy copies of the input",
        display=inner.display,
        inner=inner.name,
        inner_needs_layer=inner.needs_layer,
    )
