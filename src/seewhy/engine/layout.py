"""Channels-last inputs on the CPU, for every pass of the engine's fast path.

A convolution network computes the same values whatever the memory order of its input, but
PyTorch's CPU convolutions run fastest on channels-last (NHWC) tensors, and a
channels-last input keeps the activations channels-last all the way through. The capture
passes (CAM and input gradients), the methods' gradient passes and the perturbation
forwards run their images through :func:`forward_input`, activation maximization through
:func:`forward_in_layout`; ``fast=False`` turns it off.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from seewhy.engine.inputs import NO_ARGS, ForwardArgs, call_model

# Models whose forward failed on a channels-last input (a ``.view`` of a conv output).
_CONTIGUOUS_ONLY: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def _channels_last(module: nn.Module, inputs: torch.Tensor) -> bool:
    # Measured on the CPU only; on GPUs the best layout depends on the dtype and the card.
    if inputs.dim() != 4 or inputs.device.type != "cpu" or module in _CONTIGUOUS_ONLY:
        return False
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def forward_input(
    module: nn.Module,
    inputs: torch.Tensor,
    *,
    channels_last: bool = True,
    requires_grad: bool = True,
    before_retry: Callable[[], None] | None = None,
    extra: ForwardArgs = NO_ARGS,
) -> tuple[torch.Tensor, object]:
    """``(x, module(x))`` for a leaf copy ``x`` of ``inputs`` that requires grad (or not:
    ``requires_grad=False``, for the perturbation forwards).

    The model is called by :func:`~seewhy.engine.inputs.call_model`: ``x`` cast to the
    model's dtype (``x`` itself, and so its gradient, keeps the inputs' dtype), and the
    model's other inputs ``extra`` after it.

    On the CPU, images go in channels-last when the model has convolutions: the same
    values in the memory order the CPU convolutions run fastest in, so every forward and
    backward is cheaper (forward and backward to the input, ResNet-50 with folded
    BatchNorms, 10 images: 0.68 s instead of 0.86 s; VGG-11: 1.32 s instead of 2.30 s;
    a forward alone with folded BatchNorms, 8 images: ResNet-50 0.28 s instead of 0.36 s,
    EfficientNet-Lite0 0.07 s instead of 0.14 s). Other devices keep the input's layout
    (not measured here). A model whose forward fails on it (``.view`` of a convolution's
    output) is run again with a contiguous input, and when that works, from then on
    always; an error of the model's own is raised by the second run. ``before_retry``
    resets what the failed forward's hooks collected. The input gradient comes back in the
    layout of ``x``; callers make it contiguous. The model's outputs (tensors, or tensors in
    plain dicts, lists or tuples) come back contiguous. ``channels_last=False`` always runs
    the contiguous input.
    """

    def leaf(layout: torch.memory_format) -> torch.Tensor:
        x = inputs.detach().contiguous(memory_format=layout)
        return x.requires_grad_(True) if requires_grad else x

    return forward_in_layout(
        module, inputs, leaf, channels_last=channels_last, before_retry=before_retry, extra=extra
    )


def forward_in_layout(
    module: nn.Module,
    inputs: torch.Tensor,
    make: Callable[[torch.memory_format], torch.Tensor],
    *,
    channels_last: bool = True,
    before_retry: Callable[[], None] | None = None,
    extra: ForwardArgs = NO_ARGS,
) -> tuple[torch.Tensor, object]:
    """``(x, module(x, *extra))`` with ``x = make(layout)``: channels-last on the CPU for a model
    with convolutions (see :func:`forward_input`, which builds on it), else contiguous.

    For callers whose input must stay in the graph (activation maximization differentiates
    to the image's parameters): ``make`` may be ``inputs.contiguous(memory_format=...)``,
    which autograd follows. Exceptions other than ``RuntimeError`` pass straight through;
    an operation the model's dtype lacks on this device is a
    :class:`~seewhy.errors.ModelError` saying so.
    """
    if channels_last and _channels_last(module, inputs):
        x = make(torch.channels_last)
        try:
            # The outputs go on contiguous: a segmentation map's scores or a user's
            # ``select_output`` may ``.view`` them, as they could the model's own.
            return x, _contiguous(call_model(module, x, extra, last_try=False))
        except RuntimeError:
            if before_retry is not None:
                before_retry()
            x = make(torch.contiguous_format)
            output = call_model(module, x, extra)  # an error unrelated to the layout, again
            _CONTIGUOUS_ONLY.add(module)
            return x, output
    x = make(torch.contiguous_format)
    return x, call_model(module, x, extra)


def _contiguous(output: object) -> object:
    """``output`` with every tensor in it contiguous: a tensor, or tensors in plain dicts,
    lists and tuples (nested); other containers are passed through as they are."""
    if isinstance(output, torch.Tensor):
        return output.contiguous()
    if type(output) in (dict, OrderedDict):
        return type(output)((key, _contiguous(value)) for key, value in output.items())
    if type(output) in (list, tuple):
        return type(output)(_contiguous(value) for value in output)
    return output
