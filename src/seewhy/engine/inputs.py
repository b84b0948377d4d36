"""What goes into ``module(...)``: the images in the model's dtype, and the model's other inputs.

:func:`call_model` is the one place a pass calls the model (the passes through
:func:`~seewhy.engine.layout.forward_in_layout`, the layer probe of
:func:`~seewhy.engine.layers.probe_layers`). The engine works in float32 (the images, the
activations and gradients it hands to the methods, every map); the model runs in its own
dtype (float64, float16, bfloat16): the images, and the floating-point tensors among its
other inputs, are cast to it on the way in, and autograd casts the gradients back on the
way out, so the model itself is never converted.

A multi-input model (VQA: image and question; captioning: image and caption tokens) gets
its other inputs from :class:`ForwardArgs`: positional arguments after the image and
keyword arguments, each either the same for every image or given per image (a tensor whose
first dimension is the number of images), sliced for each batch and indexed for copies of
images (SmoothGrad's noisy copies, occlusion's masked ones).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from seewhy.errors import ModelError, OptionError


def model_dtype(module: nn.Module) -> torch.dtype:
    """The dtype the model computes in: its first floating-point parameter's (or buffer's),
    float32 for a model without any."""
    for tensor in module.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    for tensor in module.buffers():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def as_float32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32 when it is a floating-point tensor in another dtype (a no-op for
    float32): what the engine hands to the methods."""
    if tensor.is_floating_point() and tensor.dtype != torch.float32:
        return tensor.float()
    return tensor


def tolerance(dtype: torch.dtype) -> float:
    """A relative tolerance for comparing a result computed in ``dtype`` two ways (a traced
    tail against the whole model, a found Linear head against the model's output): 1e-4 in
    float32 and float64, and 8 units of rounding in the half-precision types (float16 8e-3,
    bfloat16 6e-2), where one rounding of a sum already moves it by ``eps / 2``."""
    if dtype in (torch.float16, torch.bfloat16):
        return 8 * torch.finfo(dtype).eps
    return 1e-4


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        return f"tensor {tuple(value.shape)} {dtype}"
    return type(value).__name__


@dataclass(frozen=True)
class ForwardArgs:
    """The model's inputs after the image, for ``module(image, *args, **kwargs)``.

    Build it with :meth:`of`, which decides for each value whether it is given per image.

    Attributes:
        args: positional arguments after the image.
        kwargs: keyword arguments.
        per_image: the positions (ints) and keywords (strings) of the values given per image,
            whose first dimension runs over the images of the batch.
    """

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    per_image: frozenset[int | str] = frozenset()

    @classmethod
    def of(
        cls, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None, images: int
    ) -> ForwardArgs:
        """The inputs for a call on ``images`` images.

        A tensor whose first dimension is ``images`` is given per image; a tensor of one
        dimension-0 row (``(1, ...)``, broadcast by the model), a 0-d tensor and any other
        value (an int, a string, None, a list) are the same for every image. A tensor with
        another first dimension is an :class:`~seewhy.errors.OptionError`: its rows could
        not be matched to the images (bind a tensor that must reach the model as it is into
        the model, e.g. with a wrapper module).
        """
        if args is None:
            args = ()
        elif isinstance(args, (torch.Tensor, str)) or not isinstance(args, Sequence):
            args = (args,)  # one extra input, given bare
        kwargs = dict(kwargs or {})
        for key in kwargs:
            if not isinstance(key, str):
                raise OptionError(f"forward_kwargs keys must be argument names, got {key!r}")
        values: dict[int | str, Any] = {**dict(enumerate(args)), **kwargs}
        per_image: set[int | str] = set()
        for key, value in values.items():
            if not isinstance(value, torch.Tensor) or value.dim() == 0:
                continue
            rows = value.shape[0]
            if rows == images:
                per_image.add(key)
            elif rows != 1:
                where = (
                    f"forward_args[{key}]" if isinstance(key, int) else f"forward_kwargs[{key!r}]"
                )
                raise OptionError(
                    f"{where} is a tensor of shape {tuple(value.shape)}: its first dimension "
                    f"({rows}) must be the number of images ({images}) to give one row per "
                    "image, or 1 for the same value for every image"
                )
        return cls(tuple(args), kwargs, frozenset(per_image))

    def __bool__(self) -> bool:
        return bool(self.args or self.kwargs)

    def _map(self, change) -> ForwardArgs:
        """A copy with ``change(value)`` applied to every per-image value."""
        if not self.per_image:
            return self
        args = tuple(change(v) if i in self.per_image else v for i, v in enumerate(self.args))
        kwargs = {k: change(v) if k in self.per_image else v for k, v in self.kwargs.items()}
        return ForwardArgs(args, kwargs, self.per_image)

    def images(self, start: int, stop: int) -> ForwardArgs:
        """The inputs of the images ``start..stop-1`` (per-image values sliced)."""
        return self._map(lambda value: value[start:stop])

    def rows(self, rows: torch.Tensor) -> ForwardArgs:
        """The inputs of copies of the images ``rows`` (per-image values indexed by ``rows``)."""
        return self._map(lambda value: value[rows.to(value.device)])

    def to(self, device: torch.device) -> ForwardArgs:
        """Every tensor (top level) moved to ``device``."""

        def move(value: object) -> object:
            return value.to(device) if isinstance(value, torch.Tensor) else value

        return ForwardArgs(
            tuple(move(v) for v in self.args),
            {k: move(v) for k, v in self.kwargs.items()},
            self.per_image,
        )

    def describe(self) -> str:
        """What is passed, for error messages: ``forward_args=(tensor (2, 5) int64, int)``."""
        parts = []
        if self.args:
            parts.append(f"forward_args=({', '.join(_describe(v) for v in self.args)})")
        if self.kwargs:
            items = ", ".join(f"{k}={_describe(v)}" for k, v in self.kwargs.items())
            parts.append(f"forward_kwargs={{{items}}}")
        return " and ".join(parts) or "no forward_args"


NO_ARGS = ForwardArgs()


def _cast(value: object, dtype: torch.dtype) -> object:
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != dtype:
        return value.to(dtype)
    return value


def call_model(
    module: nn.Module, x: torch.Tensor, extra: ForwardArgs = NO_ARGS, *, last_try: bool = True
) -> object:
    """``module(x, *extra.args, **extra.kwargs)``, with ``x`` and the floating-point tensors
    of ``extra`` cast to the model's dtype (autograd casts gradients back to ``x``'s dtype).

    A ``TypeError`` of the call (the model takes other inputs than it was given) is a
    :class:`~seewhy.errors.ModelError` naming what was passed and how to pass the rest, and
    so is an operation the model's dtype lacks on this device (:func:`unsupported_dtype`),
    unless ``last_try=False`` (the caller tries again in another memory layout).
    """
    dtype = model_dtype(module)
    try:
        return module(
            _cast(x, dtype),
            *(_cast(v, dtype) for v in extra.args),
            **{k: _cast(v, dtype) for k, v in extra.kwargs.items()},
        )
    except RuntimeError as error:
        clearer = (
            (unsupported_dtype(error, module, x) or wrong_channels(error, module, x))
            if last_try
            else None
        )
        if clearer is None:
            raise
        raise clearer from error
    except TypeError as error:
        raise ModelError(
            f"{type(module).__name__}'s forward failed on the inputs it was given: the image "
            f"{_describe(x)} and {extra.describe()} ({error}). A model with other inputs gets "
            "them from explain(..., forward_args=(...), forward_kwargs={...})"
        ) from error


def unsupported_dtype(error: RuntimeError, module: nn.Module, x: torch.Tensor) -> ModelError | None:
    """A ModelError saying which dtype and device an operation of the model lacks, when
    ``error`` is PyTorch's "not implemented for 'Half'" (or bfloat16, float64); else None."""
    text = str(error)
    if "not implemented for" not in text:
        return None
    dtype = str(model_dtype(module)).removeprefix("torch.")
    return ModelError(
        f"{type(module).__name__} runs in {dtype} and one of its operations has no {dtype} "
        f"kernel on {x.device.type} ({text.splitlines()[0]}); run the model in float32 "
        "(model.float()) or on a device that has it"
    )


_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels")


def wrong_channels(error: RuntimeError, module: nn.Module, x: torch.Tensor) -> ModelError | None:
    """A ModelError saying the images have the wrong number of channels for the model's
    first convolution, when ``error`` is PyTorch's "expected input[...] to have 3
    channels, but got 1"; else None."""
    found = _CHANNELS.search(str(error))
    if found is None:
        return None
    wanted, got = found.groups()
    return ModelError(
        f"{type(module).__name__} takes images of {wanted} channels and was given {got} "
        f"(tensor of shape {tuple(x.shape)}); give (B, {wanted}, H, W) tensors, or image "
        "files, which seewhy converts to the channels the model takes"
    )
