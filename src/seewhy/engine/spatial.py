"""A layer's output read as a spatial map (B, C, h, w), and the way back.

CNNs output channels-first maps; transformers do not. A ViT block outputs tokens
(B, N, C): N = p + h w, ``p`` prefix tokens (class, distillation, register tokens) before
the h x w patch tokens in row-major order. A Swin stage (timm and torchvision) and parts of
timm's ConvNeXt output channels-last grids (B, H, W, C). :func:`spatial_view` decides, once
per layer, how an output is read, and returns a :class:`SpatialView` that maps the raw
output to (B, C, h, w) and an edited map back to the raw layout (Ablation-CAM feeds edited
maps to the rest of the network). The methods only ever see (B, C, h, w).

How an output of shape ``s`` is read, for an input of H x W pixels:

- 4-D ``(B, C, h, w)`` is channels-first when (h, w) fits the input: some stride
  ``r`` gives ``|h - H / r| <= 2`` and ``|w - W / r| <= 2`` (:func:`grid_fits`). So
  ``attn.k_norm``'s (B, heads, N, head_dim) is not a map: no stride takes 224 x 224 to
  197 x 64;
- otherwise 4-D ``(B, H', W', C)`` is channels-last when (H', W') fits. Where both fit
  (C equal to a side of the grid: ConvNeXt's first stage at 384 px is (B, 96, 96, 96)),
  the layer's module decides (:func:`features_last`): a ``Linear``, a ``LayerNorm`` over
  the last dimension or a ``Permute`` to (B, H, W, C) outputs channels-last;
- 3-D ``(B, N, C)`` is tokens: ``N - p = h w``. Where the model says, its patch size gives
  (h, w) = (H / patch, W / patch) (timm: ``patch_embed.patch_size``, torchvision ViT:
  ``patch_size``) and its prefix count gives ``p`` (timm: ``num_prefix_tokens``; torchvision
  ViT: its class token, 1). What the model does not say is inferred: the smallest
  ``p <= 16`` for which ``N - p`` has a factor pair h x w that fits the input within one
  cell, the pair closest to the input's aspect ratio;
- anything else is refused with a :class:`~seewhy.errors.LayerError` that names the shape
  and ``reshape=``.

``reshape=`` (pytorch-grad-cam's ``reshape_transform``) replaces all of this with the
user's function from the raw output to (B, C, h, w) (:class:`Reshaped`).

Gradients are read the same way: each reading is a selection and a permutation of the raw
elements, so the gradient of a score with respect to the map is the same selection of its
gradient with respect to the raw output (dropped prefix tokens simply get no place in the
map), as pytorch-grad-cam applies ``reshape_transform`` to both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from seewhy.errors import LayerError, MethodRefusal, warn

#: A user's reading of a raw layer output as a (B, C, h, w) map.
Reshape = Callable[[torch.Tensor], torch.Tensor]

#: The most prefix tokens inferred when the model does not say how many it has.
MAX_INFERRED_PREFIX = 16
#: How many cells a channels-first or channels-last grid may be off a clean stride of the
#: input (padding, 'valid' convolutions, rounding up).
GRID_SLACK = 2


class SpatialView(Protocol):
    """How one layer's raw output is read as (B, C, h, w), and written back."""

    #: ``"channels-first"``, ``"channels-last"``, ``"tokens"`` or ``"reshape"``.
    kind: str

    def to_spatial(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) from the raw output (or from a gradient shaped like it)."""
        ...

    def to_raw(self, spatial: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """The raw output whose map is ``spatial`` (N, C, h, w); what the map does not
        show (prefix tokens) comes from ``raw``, the captured raw output of the same N
        images."""
        ...


@dataclass(frozen=True)
class ChannelsFirst:
    """(B, C, h, w) as it is."""

    kind: str = "channels-first"

    def to_spatial(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def to_raw(self, spatial: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return spatial


@dataclass(frozen=True)
class ChannelsLast:
    """(B, h, w, C) -> (B, C, h, w) (Swin, timm ConvNeXt's channels-last parts)."""

    kind: str = "channels-last"

    def to_spatial(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.permute(0, 3, 1, 2)

    def to_raw(self, spatial: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return spatial.permute(0, 2, 3, 1).contiguous()


@dataclass(frozen=True)
class Tokens:
    """(B, p + h w, C) -> (B, C, h, w): the ``prefix`` tokens dropped, the patch tokens laid
    out row by row."""

    prefix: int
    height: int
    width: int
    kind: str = "tokens"

    def to_spatial(self, raw: torch.Tensor) -> torch.Tensor:
        patches = raw[:, self.prefix :]
        return patches.transpose(1, 2).unflatten(2, (self.height, self.width))

    def to_raw(self, spatial: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        patches = spatial.flatten(2).transpose(1, 2)
        return torch.cat([raw[:, : self.prefix].to(patches), patches], dim=1)


class Reshaped:
    """The user's ``reshape`` (raw -> (B, C, h, w)).

    Its inverse, needed only by Ablation-CAM, is learned once: ``reshape`` applied to the
    element numbers of one image's raw output (``arange``, float64, exact up to 2^53) says
    which raw element each map element is. The reading must be a pure selection and
    permutation: every number an exact, distinct element number, and ``reshape(raw)`` equal
    to the raw elements it names; otherwise Ablation-CAM is refused (a
    :class:`~seewhy.errors.MethodRefusal`: the call's other methods still run).
    """

    kind = "reshape"

    def __init__(self, reshape: Reshape) -> None:
        self.reshape = reshape
        self._index: torch.Tensor | None = None

    def to_spatial(self, raw: torch.Tensor) -> torch.Tensor:
        return self.reshape(raw)

    def index(self, raw: torch.Tensor) -> torch.Tensor:
        """(C h w,) the element of one image's flattened raw output behind each map element."""
        if self._index is None:
            self._index = self._learn_index(raw[:1])
        return self._index

    def _learn_index(self, one: torch.Tensor) -> torch.Tensor:
        count = one.numel()
        numbers = torch.arange(count, dtype=torch.float64, device=one.device).reshape(one.shape)
        why = ""
        try:
            mapped = self.reshape(numbers)
        except Exception as error:  # noqa: BLE001 - any failure means: not invertible
            mapped, why = None, f"it fails on float64 element numbers ({error})"
        if mapped is not None:
            index = mapped.flatten()
            if mapped.dim() != 4 or mapped.shape[0] != 1:
                why = f"on one image it gives shape {tuple(mapped.shape)}, not (1, C, h, w)"
            elif mapped.dtype != torch.float64 or not torch.equal(index, index.round()):
                why = "it mixes elements (its outputs are not element numbers)"
            elif bool((index < 0).any() or (index >= count).any()):
                why = "it makes new values (its outputs are not element numbers)"
            elif torch.unique(index).numel() != index.numel():
                why = "it repeats elements, so an edited map has no single raw output"
            else:
                index = index.long()
                if torch.equal(self.reshape(one).flatten(), one.flatten()[index]):
                    return index
                why = "it does not select elements of the output it is given"
        raise MethodRefusal(
            f"reshape= is not a pure selection and permutation of the layer's output: {why}. "
            "Ablation-CAM writes its edited maps back through reshape=, so it needs one "
            "(e.g. tensor[:, 1:].reshape(B, h, w, C).permute(0, 3, 1, 2)); the other "
            "methods work with any reshape="
        )

    def to_raw(self, spatial: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        index = self.index(raw)
        written = raw.flatten(1).to(spatial, copy=True)
        written[:, index] = spatial.flatten(1)
        return written.reshape(raw.shape)


@dataclass(frozen=True)
class ModelHints:
    """What a model says about its tokens: prefix count and patch size, where it says."""

    prefix: int | None = None
    patch: tuple[int, int] | None = None


def model_hints(module: nn.Module) -> ModelHints:
    """The prefix-token count and patch size of the first submodule that declares them
    (timm: ``num_prefix_tokens``, ``patch_embed.patch_size``; torchvision ViT:
    ``class_token``, ``patch_size``)."""
    prefix: int | None = None
    patch: tuple[int, int] | None = None
    for submodule in module.modules():
        if prefix is None:
            count = getattr(submodule, "num_prefix_tokens", None)
            if isinstance(count, int):
                prefix = count
            elif isinstance(getattr(submodule, "class_token", None), torch.Tensor):
                prefix = int(submodule.class_token.shape[1])  # torchvision ViT: (1, 1, D)
        if patch is None:
            size = getattr(getattr(submodule, "patch_embed", None), "patch_size", None)
            if size is None and prefix is not None:
                size = getattr(submodule, "patch_size", None)
            patch = _pair(size)
        if prefix is not None and patch is not None:
            break
    return ModelHints(prefix, patch)


def _pair(size: object) -> tuple[int, int] | None:
    if isinstance(size, int) and size > 0:
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return int(size[0]), int(size[1])
    return None


def grid_fits(height: int, width: int, size: tuple[int, int], slack: int = GRID_SLACK) -> bool:
    """Whether an ``height`` x ``width`` grid (more than one cell) can come from an input of
    ``size`` (H, W) by one stride ``r``: ``|height - H / r| <= slack`` and
    ``|width - W / r| <= slack`` (the stride intervals of both sides overlap)."""
    if height < 1 or width < 1 or height * width < 2:
        return False
    H, W = size  # noqa: N806 - the input's sides, as in the formula
    low = max(H / (height + slack), W / (width + slack))
    high = min(
        H / (height - slack) if height > slack else math.inf,
        W / (width - slack) if width > slack else math.inf,
    )
    return low <= high


def token_grid(count: int, size: tuple[int, int], hints: ModelHints) -> Tokens | None:
    """How ``count`` tokens lie on the input of ``size``, or None (see the module docstring)."""
    if hints.patch is not None:
        grids = {
            (size[0] // hints.patch[0], size[1] // hints.patch[1]),
            (-(-size[0] // hints.patch[0]), -(-size[1] // hints.patch[1])),
        }
        for h, w in sorted(grids):
            prefix = count - h * w
            if h * w > 1 and prefix >= 0 and hints.prefix in (None, prefix):
                if hints.prefix is not None or prefix <= MAX_INFERRED_PREFIX:
                    return Tokens(prefix, h, w)
    prefixes = [hints.prefix] if hints.prefix is not None else range(MAX_INFERRED_PREFIX + 1)
    for prefix in prefixes:
        grid = _aspect_grid(count - prefix, size)
        if grid is not None:
            return Tokens(prefix, *grid)
    return None


def _aspect_grid(cells: int, size: tuple[int, int]) -> tuple[int, int] | None:
    """The factor pair h x w = ``cells`` that fits ``size`` within one cell, closest to its
    aspect ratio."""
    if cells < 2:
        return None
    pairs = [
        (h, cells // h)
        for h in range(1, cells + 1)
        if cells % h == 0 and grid_fits(h, cells // h, size, slack=1)
    ]
    if not pairs:
        return None
    aspect = math.log(size[0] / size[1])
    return min(pairs, key=lambda hw: abs(math.log(hw[0] / hw[1]) - aspect))


def features_last(layer: nn.Module) -> bool:
    """Whether ``layer`` says its output holds the features in the last dimension: a
    ``Linear``, a ``LayerNorm`` over the last dimension (torch's own forward, or timm's
    ``LayerNorm``; not the ``LayerNorm2d`` of torchvision and timm, which normalize
    channels-first maps), torchvision's ``Permute`` to (B, H, W, C), or a ``Sequential``
    that ends with one of these (its output is its last module's)."""
    while isinstance(layer, nn.Sequential) and len(layer) > 0:
        layer = layer[-1]
    if isinstance(layer, nn.Linear):
        return True
    if isinstance(layer, nn.LayerNorm):
        plain = type(layer).forward is nn.LayerNorm.forward
        timm_last = (type(layer).__module__, type(layer).__name__) == (
            "timm.layers.norm",
            "LayerNorm",
        )
        return plain or timm_last
    dims = getattr(layer, "dims", None)
    return type(layer).__name__ == "Permute" and list(dims or ()) == [0, 2, 3, 1]


_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)
_FIRST += (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Upsample)


# Element-wise modules keep any layout: a Sequential's layout is that of the module before.
_ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU)
_ELEMENTWISE += (nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Mish, nn.Identity)
_ELEMENTWISE += (nn.Dropout, nn.Dropout2d)


def features_first(layer: nn.Module) -> bool:
    """Whether ``layer`` says its output holds the features in dimension 1: a convolution,
    a batch or group norm, a 2-D pooling or an upsampling, or a ``Sequential`` whose last
    such module is one (element-wise activations and dropout after it keep its layout)."""
    while isinstance(layer, nn.Sequential) and len(layer) > 0:
        body = [m for m in layer if not isinstance(m, _ELEMENTWISE)]
        if not body:
            return False
        layer = body[-1]
    return isinstance(layer, _FIRST)


def ambiguous(shape: tuple[int, ...], size: tuple[int, int]) -> bool:
    """Whether a 4-D ``shape`` reads as a map both ways: (C, h, w) with (h, w) fitting the
    input and (h, w, C) with (C, h) fitting it too (a square grid whose side is about its
    channel count: (B, 96, 96, 96) from a 384 px input)."""
    return (
        len(shape) == 4
        and grid_fits(shape[2], shape[3], size)
        and grid_fits(shape[1], shape[2], size)
    )


def read_shape(
    shape: tuple[int, ...],
    size: tuple[int, int],
    hints: ModelHints,
    last_is_features: bool = False,
) -> SpatialView | None:
    """The reading of an output of ``shape`` for an input of ``size``, or None: not a map.

    ``last_is_features``: the layer's module says the last dimension holds the features
    (:func:`features_last`), so a 4-D output that fits both ways is channels-last."""
    if len(shape) == 4:
        if last_is_features and grid_fits(shape[1], shape[2], size):
            return ChannelsLast()
        if grid_fits(shape[2], shape[3], size):
            return ChannelsFirst()
        if grid_fits(shape[1], shape[2], size):
            return ChannelsLast()
        return None
    if len(shape) == 3:
        return token_grid(shape[1], size, hints)
    return None


def spatial_view(
    layer: str,
    module: nn.Module,
    raw: torch.Tensor,
    size: tuple[int, int],
    reshape: Reshape | None = None,
) -> SpatialView:
    """How ``layer``'s output ``raw`` of ``module`` for an input of ``size`` (H, W) is read
    as (B, C, h, w), or a LayerError naming its shape and ``reshape=``."""
    if reshape is not None:
        view = Reshaped(reshape)
        mapped = view.to_spatial(raw)
        if not isinstance(mapped, torch.Tensor) or mapped.dim() != 4:
            got = tuple(mapped.shape) if isinstance(mapped, torch.Tensor) else type(mapped)
            raise LayerError(
                f"reshape= turned layer {layer!r}'s output {tuple(raw.shape)} into {got}; "
                "it must return a (B, C, h, w) tensor"
            )
        if mapped.shape[0] != raw.shape[0]:
            raise LayerError(
                f"reshape= turned layer {layer!r}'s output {tuple(raw.shape)} into "
                f"{tuple(mapped.shape)}; it must keep the batch dimension first"
            )
        return view
    # Only tokens need the model's word (a walk over its modules, skipped for maps).
    hints = model_hints(module) if raw.dim() == 3 else ModelHints()
    owner = module.get_submodule(layer)
    last = raw.dim() == 4 and features_last(owner)
    shape = tuple(raw.shape)
    if not last and ambiguous(shape, size) and not features_first(owner):
        warn(
            f"layer {layer!r} ({type(owner).__name__}) outputs {shape}, which reads as "
            "channels-first (B, C, h, w) and as channels-last (B, h, w, C); seewhy reads it "
            "channels-first. If its features are last (a transformer stage), pass "
            "reshape=lambda t: t.permute(0, 3, 1, 2)"
        )
    view = read_shape(shape, size, hints, last)
    if view is None:
        raise LayerError(
            f"layer {layer!r} outputs shape {tuple(raw.shape)}, which can't be read as a "
            f"spatial map of the {size[0]}x{size[1]} input: not channels-first (B, C, h, w) "
            "or channels-last (B, h, w, C) with a grid that fits the input, nor tokens "
            "(B, N, C) on such a grid. Pick another layer (`seewhy layers MODEL` lists the "
            "spatial ones) or pass reshape=f, with f(output) -> (B, C, h, w)"
        )
    return view


def spatial_gradients(view: SpatialView, gradients: torch.Tensor) -> torch.Tensor:
    """(B, T, C, h, w) from the gradients (B, T, *raw) of T targets: the same reading."""
    batch, count = gradients.shape[:2]
    return view.to_spatial(gradients.flatten(0, 1)).unflatten(0, (batch, count)).contiguous()
