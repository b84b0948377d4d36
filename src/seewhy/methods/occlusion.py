"""Occlusion (Zeiler and Fergus, ECCV 2014, https://arxiv.org/abs/1311.2901).

A ``window`` x ``window`` patch, across all channels, slides over the input in steps of
``stride``; each position is replaced by the baseline and the model scores the copy. With
``S`` the explained score and ``W(p)`` the windows that cover pixel ``p``:

.. math::
    a_{c,p} = \\frac{1}{|W(p)|} \\sum_{w \\in W(p)} \\big(S(x) - S(x \\text{ with } w
    \\text{ occluded})\\big)

This is Captum's ``Occlusion`` with ``sliding_window_shapes=(C, window, window)`` and
``strides=(C, stride, stride)``: the same window positions (``ceil((H - window) / stride) +
1`` per axis, the last one cut at the border) and the same average, so the same numbers.
The attribution is the same for every channel; the map is that value (signed: positive
where hiding the pixel lowers the score).

Options: ``window`` and ``stride`` (an int or ``(height, width)``; a stride larger than the
window would leave pixels no window covers, and is refused as Captum refuses it),
``baseline`` (the fill value: a number in the preprocessed input's units, 0.0 by default;
``"mean"``, each image's per-channel mean; ``"blur"``, the image blurred as in
:mod:`~seewhy.methods.integrated_gradients`; or a tensor (C, H, W) or (B, C, H, W)), and
``batch_size`` (occluded copies per forward; None: about 8 images of 224 x 224). The copies
of every image in the call are batched together, and every target of an image is scored
from the same forwards.
"""

from __future__ import annotations

import math
import numbers

import torch

from seewhy.errors import MethodError
from seewhy.methods.contract import InputAttribution, InputGradientInputs, require_engine
from seewhy.methods.integrated_gradients import make_baseline
from seewhy.methods.ops import auto_batch_size, check_batch_size, spans, work_bar
from seewhy.methods.registry import register


def _pair(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise MethodError(f"{name} must be a positive int or (height, width), got {value!r}")
    if isinstance(value, int):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise MethodError(f"{name} must be a positive int or (height, width), got {value!r}")
    return int(value[0]), int(value[1])


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Captum's window positions along one axis: ``ceil((size - window) / stride) + 1``."""
    return [i * stride for i in range(math.ceil((size - window) / stride) + 1)]


def fill_values(x: torch.Tensor, baseline: object) -> torch.Tensor:
    """The (B, C, H, W) values an occluded window takes, for a ``baseline`` option."""
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, str) and baseline == "mean":
        return x.mean(dim=(-2, -1), keepdim=True).expand_as(x)
    if isinstance(baseline, torch.Tensor) or baseline == "blur":
        return make_baseline(x, baseline)  # type: ignore[arg-type]
    raise MethodError(
        f"baseline={baseline!r} is not allowed; use a number (0.0 by default), 'mean', "
        "'blur' or a tensor"
    )


@register("occlusion", family="input", display="signed")
def occlusion(
    inputs: InputGradientInputs,
    window: int | tuple[int, int] = 16,
    stride: int | tuple[int, int] = 8,
    baseline: float | str | torch.Tensor = 0.0,
    batch_size: int | None = None,
) -> InputAttribution:
    """Occlusion: the score's drop when a sliding patch hides each pixel (Zeiler 2014)."""
    window_h, window_w = _pair(window, "window")
    stride_h, stride_w = _pair(stride, "stride")
    check_batch_size(batch_size)
    forward_fn = require_engine(inputs.forward_fn, "forwards", "occlusion")
    x = inputs.inputs.detach()
    batch, _, height, width = x.shape
    if window_h > height or window_w > width:
        raise MethodError(
            f"window {(window_h, window_w)} is larger than the input ({height}, {width})"
        )
    for axis, size, win, step in (
        ("height", height, window_h, stride_h),
        ("width", width, window_w, stride_w),
    ):
        if size > win and step > win:
            raise MethodError(
                f"stride {step} is larger than the window {win} along the {axis}: some "
                "pixels would never be occluded; use a stride no larger than the window"
            )
    fill = fill_values(x, baseline)
    windows = [
        (top, left)
        for top in window_starts(height, window_h, stride_h)
        for left in window_starts(width, window_w, stride_w)
    ]
    count = batch * len(windows)  # copy i: image i // len(windows), window i % len(windows)
    total = x.new_zeros((batch, inputs.num_targets, height, width))
    covered = x.new_zeros((height, width))
    for top, left in windows:
        covered[top : top + window_h, left : left + window_w] += 1
    chunk = auto_batch_size(x, batch_size)
    with work_bar(count, "occlusion", inputs.progress) as bar:
        for first, last in spans(count, chunk):
            # copy j: image b, window at (top, left)
            placed = [(i // len(windows), *windows[i % len(windows)]) for i in range(first, last)]
            rows = torch.tensor([b for b, _, _ in placed], device=x.device)
            copies = x[rows]  # advanced indexing: already a copy
            for j, (b, top, left) in enumerate(placed):
                patch = (slice(top, top + window_h), slice(left, left + window_w))
                copies[j, :, patch[0], patch[1]] = fill[b, :, patch[0], patch[1]]
            drops = inputs.objective[rows] - forward_fn(copies, rows)  # (n, T)
            for j, (b, top, left) in enumerate(placed):
                total[b, :, top : top + window_h, left : left + window_w] += drops[j].view(-1, 1, 1)
            bar.update(last - first)
    per_pixel = total / covered
    attribution = per_pixel.unsqueeze(2).expand(-1, -1, x.shape[1], -1, -1).contiguous()
    return InputAttribution(attribution, per_pixel)
