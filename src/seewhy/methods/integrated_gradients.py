"""Integrated gradients (Sundararajan et al., ICML 2017, https://arxiv.org/abs/1703.01365).

.. math::
    a = (x - x_0) \\odot \\sum_{s=1}^{m} w_s \\,
        \\frac{\\partial S}{\\partial x}\\big(x_0 + \\alpha_s (x - x_0)\\big), \\qquad
    \\delta = \\sum a - \\big(S(x) - S(x_0)\\big)

``rule="gausslegendre"`` (default): ``alpha_s`` and ``w_s`` are the Gauss-Legendre nodes and
weights moved from [-1, 1] to [0, 1]; ``rule="riemann_trapezoid"``: ``alpha_s`` evenly spaced
over [0, 1] and ``w_s = 1/m`` halved at both ends. Both exactly as Captum's
``approximation_methods`` (whose trapezoid weights sum to ``1 - 1/m``, not 1), so Captum's
``IntegratedGradients`` with the same ``n_steps`` and ``method`` gives the same attributions.

The convergence delta ``delta`` (B, T) is the completeness error (the paper's axiom: the
attributions sum to ``S(x) - S(x_0)``); it goes into ``result.deltas``. Baselines: ``"zeros"``
(default), ``"blur"`` (the input blurred with a Gaussian kernel of 11 px and sigma 5, as
the RISE insertion substrate), or a tensor (C, H, W) or (B, C, H, W). The ``steps`` points of
all images run ``batch_size`` at a time (None: about 8 images of 224 x 224 per pass), each
chunk one forward and one backward per target. Map: the sum over channels (signed).
"""

from __future__ import annotations

import numpy as np
import torch

from seewhy.errors import MethodError
from seewhy.methods.contract import InputAttribution, InputGradientInputs, require_engine
from seewhy.methods.ops import auto_batch_size, check_batch_size, spans, sum_over_channels
from seewhy.methods.registry import register

RULES = ("gausslegendre", "riemann_trapezoid")
BASELINES = ("zeros", "blur")
BLUR_KERNEL = 11
BLUR_SIGMA = 5.0


def quadrature(rule: str, steps: int) -> tuple[list[float], list[float]]:
    """``(alphas, weights)`` of ``rule`` with ``steps`` points on [0, 1], as Captum's."""
    if rule == "gausslegendre":
        if steps < 1:
            raise MethodError(f"steps must be at least 1 for gausslegendre, got {steps}")
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (0.5 * (1 + nodes)).tolist(), (0.5 * weights).tolist()
    if rule == "riemann_trapezoid":
        if steps < 2:
            raise MethodError(f"steps must be at least 2 for riemann_trapezoid, got {steps}")
        sizes = [1 / steps] * steps
        sizes[0] /= 2
        sizes[-1] /= 2
        return torch.linspace(0, 1, steps).tolist(), sizes
    raise MethodError(f"rule={rule!r} is not allowed; use one of {', '.join(RULES)}")


def make_baseline(inputs: torch.Tensor, baseline: str | torch.Tensor) -> torch.Tensor:
    """The (B, C, H, W) baseline ``x_0`` for a ``baseline`` option."""
    if isinstance(baseline, torch.Tensor):
        value = baseline.detach().to(inputs)
        if value.dim() == 3:
            value = value.unsqueeze(0)
        try:
            return value.expand_as(inputs)
        except RuntimeError:
            raise MethodError(
                f"a baseline tensor must be (C, H, W) or (B, C, H, W) like the input "
                f"{tuple(inputs.shape)}, got {tuple(baseline.shape)}"
            ) from None
    if baseline == "zeros":
        return torch.zeros_like(inputs)
    if baseline == "blur":
        from torchvision.transforms.functional import gaussian_blur

        return gaussian_blur(inputs, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA])
    raise MethodError(
        f"baseline={baseline!r} is not allowed; use one of {', '.join(BASELINES)} or a tensor"
    )


@register("integrated_gradients", family="input", display="signed")
def integrated_gradients(
    inputs: InputGradientInputs,
    steps: int = 50,
    rule: str = "gausslegendre",
    baseline: str | torch.Tensor = "zeros",
    batch_size: int | None = None,
) -> InputAttribution:
    """Integrated gradients: (x - x0) times the path integral of dS/dx (Sundararajan 2017)."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise MethodError(f"steps must be an int, got {steps!r}")
    check_batch_size(batch_size)
    alphas, weights = quadrature(rule, steps)
    x = inputs.inputs.detach()
    start = make_baseline(x, baseline)
    difference = x - start
    batch = x.shape[0]
    alpha = torch.tensor(alphas, dtype=x.dtype, device=x.device)
    weight = torch.tensor(weights, dtype=x.dtype, device=x.device)
    total = x.new_zeros((batch, inputs.num_targets, *x.shape[1:]))
    count = batch * steps  # point i = image i // steps at step i % steps
    chunk = auto_batch_size(x, batch_size)
    for first, stop in spans(count, chunk):
        index = torch.arange(first, stop, device=x.device)
        rows, step = index // steps, index % steps
        shape = (-1,) + (1,) * (x.dim() - 1)
        points = start[rows] + alpha[step].view(shape) * difference[rows]
        _, gradients = inputs.gradient_fn(points, rows)
        total.index_add_(0, rows, gradients * weight[step].view(-1, 1, *shape[1:]))
    attribution = total * difference.unsqueeze(1)
    forward_fn = require_engine(inputs.forward_fn, "forwards", "integrated_gradients")
    start_score = forward_fn(start, torch.arange(batch, device=x.device))
    delta = attribution.flatten(2).sum(dim=2) - (inputs.objective - start_score)
    return InputAttribution(attribution, sum_over_channels(attribution), delta)
