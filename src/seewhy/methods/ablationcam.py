"""Ablation-CAM (Desai and Ramaswamy, WACV 2020, https://openaccess.thecvf.com/content_WACV_2020/html/Desai_Ablation-CAM_Visual_Explanations_for_Deep_Convolutional_Network_via_Gradient-free_Localization_WACV_2020_paper.html).

.. math::
    w^c_k = \\frac{S_c - S_c(A \\text{ with } A^k = 0)}{S_c}, \\qquad
    L^c = \\mathrm{ReLU}\\Big(\\sum_k w^c_k A^k\\Big)

Each channel of the layer's output is set to zero in turn and only the part of the network
after the layer runs on the ablated copies (:func:`~seewhy.engine.tail.layer_tail`); where the
model can't be cut at the layer, whole forwards with the layer's output replaced give the
same scores more slowly. Every target of an image comes from the same ablated forwards, and
a channel that is already all zero is not run: ablating it changes nothing, so its weight is
0. The copies run ``batch_size`` at a time (None: about 16 M activation values per forward).

``counterfactual=True`` negates the weights: the engine hands the negated score ``-S``, and
the weights are a ratio, ``(-S + S') / -S = (S - S') / S``, so negating the score alone would
leave them unchanged.

Difference from pytorch-grad-cam's ``AblationCAM``: where a layer's output can be negative it
"ablates" with ``min(A) - 1e7`` instead of 0; here the channel is always set to 0, as in the
paper. On layers after a ReLU (minimum 0) the two agree.
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import CamInputs, require_engine
from seewhy.methods.ops import (
    auto_batch_size,
    check_batch_size,
    maybe_relu,
    spans,
    weighted_sum,
    work_bar,
)
from seewhy.methods.registry import register

#: Activation values per ablated forward when ``batch_size=None``.
AUTO_ABLATION_VALUES = 1 << 24


@register("ablationcam", needs_gradients=False)
def ablationcam(
    inputs: CamInputs, batch_size: int | None = None, relu: bool = True
) -> torch.Tensor:
    """Ablation-CAM: channels weighted by the score's relative drop when each is zeroed."""
    check_batch_size(batch_size)
    head_fn = require_engine(inputs.head_fn, "forwards from the layer", "ablationcam")
    score = require_engine(inputs.objective, "scores", "ablationcam")  # (B, T)
    activations = inputs.activations
    batch, channels = activations.shape[:2]
    live = activations.flatten(2).ne(0).any(dim=2)  # (B, K): channels worth ablating
    pairs = live.nonzero()  # (N, 2): image, channel
    ablated = score.new_empty((pairs.shape[0], score.shape[1]))
    chunk = auto_batch_size(activations, batch_size, AUTO_ABLATION_VALUES)
    with work_bar(pairs.shape[0], "ablationcam", inputs.progress) as bar:
        for first, last in spans(pairs.shape[0], chunk):
            rows, channel = pairs[first:last, 0], pairs[first:last, 1]
            copies = activations[rows]  # advanced indexing: already a copy
            copies[torch.arange(last - first, device=copies.device), channel] = 0
            ablated[first:last] = head_fn(copies, rows)
            bar.update(last - first)
    drops = score.new_zeros((batch, channels, score.shape[1]))  # an all-zero channel: no drop
    drops[pairs[:, 0], pairs[:, 1]] = score[pairs[:, 0]] - ablated
    weights = drops.transpose(1, 2) / score.unsqueeze(2)  # (B, T, K)
    if inputs.counterfactual:
        weights = -weights
    return maybe_relu(weighted_sum(weights, activations), relu)
