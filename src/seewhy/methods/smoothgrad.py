"""SmoothGrad (Smilkov et al., 2017, https://arxiv.org/abs/1706.03825), with SmoothGrad^2 and
VarGrad (Adebayo et al., 2018, https://arxiv.org/abs/1810.03307).

With ``n`` noisy copies ``x + eps_k``, ``eps_k ~ N(0, sigma^2)``,
``sigma = noise * (max(x) - min(x))`` per image, and the sample attribution the absolute
gradient ``a_k = |dS/dx (x + eps_k)|`` (Captum's ``NoiseTunnel(Saliency())``):

.. math::
    \\mathrm{smoothgrad} = \\frac{1}{n} \\sum_k a_k, \\qquad
    \\mathrm{smoothgrad\\_sq} = \\frac{1}{n} \\sum_k a_k^2, \\qquad
    \\mathrm{vargrad} = \\mathrm{smoothgrad\\_sq} - \\mathrm{smoothgrad}^2

Maps: the maximum over channels, as for saliency. The paper's defaults: noise 0.10-0.20 and
n = 50. Samples run ``batch_size`` at a time (None: about 8 images of 224 x 224 per pass),
each chunk one forward and one backward per target; the same ``seed`` gives the same result. ``noise_tensors`` (B, n, C, H, W)
injects the noise (e.g. the tensors another library drew), ignoring ``noise`` and ``seed``.
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import InputAttribution, InputGradientInputs
from seewhy.methods.noise import DEFAULT_N, DEFAULT_NOISE, NoiseSource, check_smoothing
from seewhy.methods.ops import (
    auto_batch_size,
    max_abs_over_channels,
    spans,
)
from seewhy.methods.registry import register


def noisy_moments(
    inputs: InputGradientInputs,
    n: int,
    noise: float,
    batch_size: int | None,
    seed: int | None,
    noise_tensors: torch.Tensor | None,
    squares: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean of ``|dS/dx|`` over the noisy copies and, if ``squares``, of its square;
    each (B, T, C, H, W)."""
    check_smoothing(n, noise, batch_size)
    chunk = auto_batch_size(inputs.inputs, batch_size)
    source = NoiseSource(inputs.inputs, n, noise, seed, noise_tensors)
    shape = (inputs.inputs.shape[0], inputs.num_targets, *inputs.inputs.shape[1:])
    total = inputs.inputs.new_zeros(shape)
    total_sq = inputs.inputs.new_zeros(shape) if squares else None
    for start, stop in spans(source.total, chunk):
        rows, noisy = source.take(start, stop)
        _, gradients = inputs.gradient_fn(noisy, rows)
        magnitude = gradients.abs_()
        total.index_add_(0, rows, magnitude)
        if total_sq is not None:
            total_sq.index_add_(0, rows, magnitude.square_())
    return total / n, None if total_sq is None else total_sq / n


@register("smoothgrad", family="input", display="abs")
def smoothgrad(
    inputs: InputGradientInputs,
    n: int = DEFAULT_N,
    noise: float = DEFAULT_NOISE,
    batch_size: int | None = None,
    seed: int | None = None,
    noise_tensors: torch.Tensor | None = None,
) -> InputAttribution:
    """SmoothGrad: |dS/dx| averaged over n noisy copies (Smilkov 2017)."""
    mean, _ = noisy_moments(inputs, n, noise, batch_size, seed, noise_tensors, squares=False)
    return InputAttribution(mean, max_abs_over_channels(mean))


@register("smoothgrad_sq", family="input", display="abs")
def smoothgrad_sq(
    inputs: InputGradientInputs,
    n: int = DEFAULT_N,
    noise: float = DEFAULT_NOISE,
    batch_size: int | None = None,
    seed: int | None = None,
    noise_tensors: torch.Tensor | None = None,
) -> InputAttribution:
    """SmoothGrad^2: the mean of the squared gradient over n noisy copies."""
    _, mean_sq = noisy_moments(inputs, n, noise, batch_size, seed, noise_tensors)
    assert mean_sq is not None
    return InputAttribution(mean_sq, max_abs_over_channels(mean_sq))


@register("vargrad", family="input", display="abs")
def vargrad(
    inputs: InputGradientInputs,
    n: int = DEFAULT_N,
    noise: float = DEFAULT_NOISE,
    batch_size: int | None = None,
    seed: int | None = None,
    noise_tensors: torch.Tensor | None = None,
) -> InputAttribution:
    """VarGrad: the variance of |dS/dx| over n noisy copies (Adebayo 2018)."""
    mean, mean_sq = noisy_moments(inputs, n, noise, batch_size, seed, noise_tensors)
    assert mean_sq is not None
    variance = mean_sq - mean * mean
    return InputAttribution(variance, max_abs_over_channels(variance))
