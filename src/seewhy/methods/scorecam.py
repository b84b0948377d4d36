"""Score-CAM (Wang et al., CVPR workshops 2020, https://arxiv.org/abs/1910.01279).

.. math::
    M_k = \\frac{U(A^k) - \\min U(A^k)}{\\max U(A^k) - \\min U(A^k) + \\epsilon}, \\quad
    s^c_k = S_c(M_k \\odot x), \\quad
    \\alpha^c = \\mathrm{softmax}_k(s^c), \\quad
    L^c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha^c_k A^k\\Big)

``U`` upsamples a channel to the input size (bilinear), ``x`` is the preprocessed input and
``epsilon = 1e-8`` keeps a constant channel's mask at zero. ``S_c`` is the call's score (the
logit by default, as pytorch-grad-cam's ``ScoreCAM``; the paper's softmax over channels makes
its baseline term ``S_c(x_b)`` cancel, so it is left out).

Every target of an image is scored from the same masked forwards, so top-5 costs what one
target costs, and channels with the same mask (every constant channel gives the zero mask;
exact duplicates) are evaluated once. The masked copies of all images run ``batch_size`` at
a time (None: about 8 images of 224 x 224 per forward).

Difference from pytorch-grad-cam: it upsamples with ``align_corners=True``; here the default
is ``align_corners=False`` (half-pixel centres, as every other map of seewhy is upsampled).
``align_corners=True`` reproduces pytorch-grad-cam's numbers exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seewhy.errors import MethodError
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

EPSILON = 1e-8


def distinct_channels(activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distinct, inverse)`` for one image's (K, h, w) activations.

    Constant channels are replaced by zeros (their masks are all zero), then duplicates are
    removed: ``distinct`` (U, h, w) holds each different channel once, and
    ``distinct[inverse[k]]`` gives channel k's mask source.
    """
    flat = activations.flatten(1)
    constant = flat.amax(dim=1) == flat.amin(dim=1)
    keyed = torch.where(constant.unsqueeze(1), torch.zeros_like(flat), flat)
    distinct, inverse = torch.unique(keyed, dim=0, return_inverse=True)
    return distinct.view(-1, *activations.shape[1:]), inverse


def masks_of(channels: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    """(N, h, w) channels -> (N, 1, H, W) masks, each min-max normalized to [0, 1]."""
    up = F.interpolate(
        channels.unsqueeze(1), size=size, mode="bilinear", align_corners=align_corners
    )
    flat = up.flatten(1)
    low = flat.amin(dim=1).view(-1, 1, 1, 1)
    high = flat.amax(dim=1).view(-1, 1, 1, 1)
    return (up - low) / (high - low + EPSILON)


@register("scorecam", needs_gradients=False)
def scorecam(
    inputs: CamInputs,
    batch_size: int | None = None,
    align_corners: bool = False,
    relu: bool = True,
) -> torch.Tensor:
    """Score-CAM: channels weighted by the softmax of the scores of the input masked by them."""
    check_batch_size(batch_size)
    if not isinstance(align_corners, bool):
        raise MethodError(f"align_corners must be True or False, got {align_corners!r}")
    forward_fn = require_engine(inputs.forward_fn, "masked forwards", "scorecam")
    x = require_engine(inputs.inputs, "input", "scorecam").detach()
    activations = inputs.activations
    size = (int(x.shape[-2]), int(x.shape[-1]))
    sources, inverses, rows = [], [], []
    for b in range(x.shape[0]):
        distinct, inverse = distinct_channels(activations[b])
        sources.append(distinct)
        inverses.append(inverse)
        rows.append(torch.full((distinct.shape[0],), b, dtype=torch.long, device=x.device))
    source = torch.cat(sources)
    row = torch.cat(rows)
    scores = x.new_empty((source.shape[0], inputs.num_targets))
    chunk = auto_batch_size(x, batch_size)
    with work_bar(source.shape[0], "scorecam", inputs.progress) as bar:
        for first, last in spans(source.shape[0], chunk):
            masks = masks_of(source[first:last], size, align_corners)
            scores[first:last] = forward_fn(x[row[first:last]] * masks, row[first:last])
            bar.update(last - first)
    weights, offset = [], 0
    for b, inverse in enumerate(inverses):
        count = sources[b].shape[0]
        per_channel = scores[offset : offset + count][inverse]  # (K, T)
        weights.append(torch.softmax(per_channel, dim=0).T)
        offset += count
    return maybe_relu(weighted_sum(torch.stack(weights), activations), relu)
