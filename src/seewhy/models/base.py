"""The model container every other part of seewhy works with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from seewhy.io.rgb import as_rgb_uint8

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The luma weights of ITU-R BT.601 (as PIL's ``convert("L")``): gray = 0.299 R + 0.587 G + 0.114 B.
LUMA = (0.299, 0.587, 0.114)
#: The ImageNet mean and std weighted by :data:`LUMA`: the defaults of a 1-channel model.
GRAY_MEAN = (round(sum(w * m for w, m in zip(LUMA, IMAGENET_MEAN)), 4),)
GRAY_STD = (round(sum(w * s for w, s in zip(LUMA, IMAGENET_STD)), 4),)

#: Selects the tensor of class scores from whatever the model returns.
OutputSelector = Callable[[Any], torch.Tensor]


@dataclass(frozen=True)
class Geometry:
    """How :meth:`LoadedModel.display` maps an image's pixels to the model's input: resize
    the ``image`` (width, height) to ``resized``, then cut ``size`` out at ``offset``
    (left, top) (no cut: offset 0 and size = resized).

    Ground truth follows the same path: a box is scaled with its pixels' extent (pixel
    ``x`` covers ``[x, x + 1)``, so ``[x0, x1 + 1)`` becomes ``[x0 s, (x1 + 1) s)`` and
    its inclusive ends ``floor(x0 s)`` and ``ceil((x1 + 1) s) - 1``), shifted by the
    crop and clipped to it; a mask is resized with nearest neighbours, then cut.
    """

    image: tuple[int, int]
    resized: tuple[int, int]
    offset: tuple[int, int]
    size: tuple[int, int]

    def box(self, box: Sequence[float]) -> tuple[int, int, int, int] | None:
        """``(x0, y0, x1, y1)`` (inclusive) in the input's pixels; None when the crop
        leaves none of it."""
        sx = self.resized[0] / self.image[0]
        sy = self.resized[1] / self.image[1]
        x0, y0, x1, y1 = (float(v) for v in box)
        left, top = self.offset
        width, height = self.size
        nx0 = int(np.floor(x0 * sx + 1e-9)) - left
        ny0 = int(np.floor(y0 * sy + 1e-9)) - top
        nx1 = int(np.ceil((x1 + 1) * sx - 1e-9)) - 1 - left
        ny1 = int(np.ceil((y1 + 1) * sy - 1e-9)) - 1 - top
        if nx1 < 0 or ny1 < 0 or nx0 > width - 1 or ny0 > height - 1:
            return None
        return (max(nx0, 0), max(ny0, 0), min(nx1, width - 1), min(ny1, height - 1))

    def mask(self, mask: np.ndarray) -> np.ndarray:
        """An (H, W) bool mask of the image as the input's (size) bool mask."""
        pil = Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255)
        if pil.size != self.resized:
            pil = pil.resize(self.resized, Image.Resampling.NEAREST)
        left, top = self.offset
        width, height = self.size
        return np.asarray(pil.crop((left, top, left + width, top + height))) > 127


@dataclass
class LoadedModel:
    """A model ready to explain: the module (in eval mode), how to feed it and what it says.

    Attributes:
        module: the ``nn.Module``; seewhy puts it in eval mode during each call.
        name: a display name (``"efficientnet_lite0"``, ``"resnet50"``, or the class name).
        input_size: the side of the square input, in pixels.
        mean, std: per-channel normalization applied after scaling pixels to [0, 1]. One
            entry each makes a 1-channel model's input: the luma of the RGB pixels
            (:data:`LUMA`), normalized (:meth:`normalize`).
        labels: class names by index, where the model has them.
        output: selects the class-score tensor from a tuple, dict or ``ModelOutput``.
        resize: resize images to ``input_size`` (False: feed them at their own size).
        crop: resize the shorter side then centre-crop (torchvision's convention) instead of
            squashing the whole photo to a square; see :meth:`display`.
        crop_pct: with ``crop``, the share of the resized shorter side that is kept.
    """

    module: nn.Module
    name: str = "model"
    input_size: int = 224
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    labels: list[str] | None = None
    output: OutputSelector | None = None
    resize: bool = True
    crop: bool = False
    crop_pct: float = 0.875
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def wrap(cls, module: nn.Module, **fields: Any) -> LoadedModel:
        """A user's own ``module`` with seewhy's defaults: ImageNet's mean and std, or, when
        its first convolution takes one channel, :data:`GRAY_MEAN` and :data:`GRAY_STD`
        (image files are then read as their luma). ``fields`` override any attribute;
        ``output`` is read as :func:`~seewhy.load_model` reads it (an index, a key, an
        attribute name or a function)."""
        defaults: dict[str, Any] = {"name": type(module).__name__}
        if input_channels(module) == 1:
            defaults.update(mean=GRAY_MEAN, std=GRAY_STD)
        if "output" in fields:
            fields = {**fields, "output": make_selector(fields["output"])}
        return cls(module=module, **{**defaults, **fields})

    @property
    def num_classes(self) -> int | None:
        """How many classes the model scores, where known (its labels' count otherwise)."""
        classes = self.extra.get("num_classes")
        if classes is None and self.labels:
            classes = len(self.labels)
        return classes

    def describe(self) -> dict[str, Any]:
        """What a run records of the model (``report.json``'s ``request.model``): its name,
        source and weights, classes, preprocessing, and where its labels came from."""
        return {
            "name": self.name,
            "source": self.extra.get("source"),
            "weights": self.extra.get("weights"),
            "num_classes": self.num_classes,
            "labels": self.extra.get("labels", "bundled" if self.labels else None),
            "input_size": self.input_size,
            "resize": self.resize,
            "crop": self.crop,
            "crop_pct": self.crop_pct if self.crop else None,
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }

    def display(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """The (size, size, 3) uint8 view of ``image`` that the model sees.

        The pixels are read by :func:`seewhy.io.rgb.as_rgb_uint8` (any PIL mode; gray, RGB
        or RGBA arrays of uint8, uint16, other integers or floats).

        By default the whole photo is resized to ``input_size`` x ``input_size`` (bilinear),
        so every part of it can be explained (its aspect ratio is not kept). With
        ``crop=True``, torchvision's evaluation convention: the shorter side is resized to
        ``int(input_size / crop_pct)`` (256 for 224 at the default 0.875), keeping the aspect
        ratio, then the centre ``input_size`` square is cut out (the model then sees, and
        explains, only that square).
        """
        array = as_rgb_uint8(image)
        if not self.resize:
            return array
        geometry = self.geometry(array.shape[1], array.shape[0])
        pil = Image.fromarray(array).resize(geometry.resized, Image.Resampling.BILINEAR)
        if not self.crop:
            return np.asarray(pil)
        left, top = geometry.offset
        width, height = geometry.size
        return np.asarray(pil.crop((left, top, left + width, top + height)))

    def geometry(self, width: int, height: int) -> Geometry:
        """Where an image of ``width`` x ``height`` pixels lands in the model's input
        (:meth:`display`'s resize and crop): map ground truth with it
        (:meth:`Geometry.box`, :meth:`Geometry.mask`)."""
        if not self.resize:
            return Geometry((width, height), (width, height), (0, 0), (width, height))
        size = self.input_size
        if not self.crop:
            return Geometry((width, height), (size, size), (0, 0), (size, size))
        short = max(size, int(size / self.crop_pct))
        if width <= height:
            new_w, new_h = short, int(short * height / width)
        else:
            new_w, new_h = int(short * width / height), short
        left, top = int(round((new_w - size) / 2)), int(round((new_h - size) / 2))
        return Geometry((width, height), (new_w, new_h), (left, top), (size, size))

    def normalize(self, displays: Sequence[np.ndarray]) -> torch.Tensor:
        """A (B, 3, H, W) float32 tensor from RGB display arrays of one size, or (B, 1, H, W)
        when ``mean`` and ``std`` have one entry: the luma ``0.299 R + 0.587 G + 0.114 B``
        (:data:`LUMA`), as PIL converts to gray. The display stays RGB; the overlays are
        drawn on what the model sees (:meth:`denormalize`: the gray image, in 3 channels)."""
        batch = torch.from_numpy(np.stack(displays)).permute(0, 3, 1, 2).float() / 255.0
        if len(self.mean) == 1 and len(self.std) == 1:
            luma = torch.tensor(LUMA, dtype=batch.dtype).view(1, 3, 1, 1)
            batch = (batch * luma).sum(dim=1, keepdim=True)
        mean = torch.tensor(self.mean, dtype=batch.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=batch.dtype).view(1, -1, 1, 1)
        return (batch - mean) / std

    def preprocess(
        self, images: Sequence[Image.Image | np.ndarray] | Image.Image | np.ndarray
    ) -> torch.Tensor:
        """A normalized (B, 3, H, W) tensor from PIL images or arrays ((B, 1, H, W) for a
        1-channel model, see :meth:`normalize`)."""
        if isinstance(images, (Image.Image, np.ndarray)):
            images = [images]
        return self.normalize([self.display(image) for image in images])

    def denormalize(self, batch: torch.Tensor) -> np.ndarray:
        """(B, H, W, 3) uint8 arrays from a normalized batch, for drawing overlays."""
        batch = batch.detach().float().cpu()
        channels = batch.shape[1]
        if channels == len(self.mean):
            mean = torch.tensor(self.mean).view(1, -1, 1, 1)
            std = torch.tensor(self.std).view(1, -1, 1, 1)
            pixels = batch * std + mean
        else:
            low = batch.amin(dim=(1, 2, 3), keepdim=True)
            high = batch.amax(dim=(1, 2, 3), keepdim=True)
            pixels = (batch - low) / (high - low).clamp_min(1e-12)
        if channels == 1:
            pixels = pixels.repeat(1, 3, 1, 1)
        pixels = pixels[:, :3].clamp(0, 1)
        return (pixels.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)

    def select_output(self, raw: Any) -> torch.Tensor:
        """The (B, C) score tensor from the module's raw output."""
        if self.output is not None:
            return self.output(raw)
        return default_output(raw)


def check_distinct_names(models: Sequence[LoadedModel], keyed: str) -> None:
    """An OptionError when two of ``models`` share a name: ``keyed`` says what the name
    tells apart (results, files, rows), so a second model would overwrite or mix with the
    first."""
    from seewhy.errors import OptionError

    names = [model.name for model in models]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise OptionError(
            f"two models are named {twice!r}: {keyed} are told apart by the model's name; "
            "give each model once, or its own name (model.name = '...')"
        )


def input_channels(module: nn.Module) -> int | None:
    """The channels the model's first convolution takes (in registration order), or None
    for a model without a 2-D convolution."""
    for submodule in module.modules():
        if isinstance(submodule, nn.Conv2d):
            return submodule.in_channels
    return None


def describe_output(raw: Any) -> str:
    """What a raw output holds, for error messages: ``[0] (2, 4, 8, 8), [1] (2, 5)``."""

    def shape(value: Any) -> str:
        if isinstance(value, torch.Tensor):
            return str(tuple(value.shape))
        return type(value).__name__

    if isinstance(raw, dict):
        return ", ".join(f"{key!r} {shape(value)}" for key, value in raw.items())
    if isinstance(raw, (tuple, list)):
        return ", ".join(f"[{i}] {shape(value)}" for i, value in enumerate(raw))
    fields = (
        {name: value for name, value in vars(raw).items() if isinstance(value, torch.Tensor)}
        if hasattr(raw, "__dict__")
        else {}
    )
    return ", ".join(f".{name} {shape(value)}" for name, value in fields.items()) or shape(raw)


def _choices(raw: Any) -> list[str]:
    if isinstance(raw, dict):
        return [f"output={key!r}" for key in raw]
    if isinstance(raw, (tuple, list)):
        return [f"output={i}" for i in range(len(raw))]
    return []


def default_output(raw: Any) -> torch.Tensor:
    """The class scores of a raw output: the tensor itself, ``logits`` (an attribute or a
    key), ``out`` or ``scores`` (keys), or the one tensor of a tuple, list or dict.

    A tuple, list or dict with several tensors and none of those keys is ambiguous: a
    ModelError lists what it holds and the ``output=`` that picks each (guessing the first
    would explain a feature map or an auxiliary head without a word)."""
    if isinstance(raw, torch.Tensor):
        return raw
    logits = getattr(raw, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(raw, dict):
        for key in ("logits", "out", "scores"):
            if isinstance(raw.get(key), torch.Tensor):
                return raw[key]
        tensors = [v for v in raw.values() if isinstance(v, torch.Tensor)]
    elif isinstance(raw, (tuple, list)):
        tensors = [v for v in raw if isinstance(v, torch.Tensor)]
    else:
        tensors = []
    if len(tensors) == 1:
        return tensors[0]
    from seewhy.errors import ModelError

    choices = _choices(raw)
    pick = f" ({', '.join(choices)})" if choices else ""
    raise ModelError(
        f"the model returned {type(raw).__name__} [{describe_output(raw)}], not one tensor of "
        f"class scores; pass output= to pick the scores{pick}, or a function of the output"
    )


def make_selector(output: int | str | OutputSelector | None) -> OutputSelector | None:
    """An output selector from an index (tuple), a key (dict), an attribute name or a function.

    ``output`` of another type is a ModelError at once; a selector that names nothing in the
    model's output, or picks something that is not a tensor, raises a ModelError listing
    what the output holds."""
    if output is None or callable(output):
        return output
    if not isinstance(output, (int, str)) or isinstance(output, bool):
        from seewhy.errors import ModelError

        raise ModelError(
            "output must be an index, a key, an attribute name or a function, "
            f"not {type(output).__name__}"
        )

    def select(raw: Any) -> torch.Tensor:
        from seewhy.errors import ModelError, suggestion

        try:
            if isinstance(output, int) and isinstance(raw, (tuple, list)):
                value = raw[output]
            elif isinstance(raw, dict):
                value = raw[output]
            elif isinstance(output, str):
                value = getattr(raw, output)
            else:
                raise TypeError
        except (IndexError, KeyError, AttributeError, TypeError):
            names = [str(key) for key in raw] if isinstance(raw, dict) else []
            hint = suggestion(output, names) if isinstance(output, str) else ""
            allowed = _choices(raw)
            listed = f" Allowed: {', '.join(allowed)}." if allowed else ""
            raise ModelError(
                f"output={output!r} names nothing in the model's output "
                f"{type(raw).__name__} [{describe_output(raw)}].{hint}{listed}"
            ) from None
        if not isinstance(value, torch.Tensor):
            raise ModelError(
                f"output={output!r} picks a {type(value).__name__}, not a tensor of class "
                f"scores; the model's output holds [{describe_output(raw)}]"
            )
        return value

    return select
