"""``load_model``: one entry point for bundled, torchvision, timm and your own models."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from types import ModuleType

import torch
from torch import nn

from seewhy.engine.device import resolve_device
from seewhy.errors import ModelError, suggestion
from seewhy.models import (
    efficientnet_lite,  # noqa: F401 - registers the bundled models
    timm_models,
    torchvision_models,
)
from seewhy.models.base import LoadedModel, OutputSelector, make_selector
from seewhy.models.checkpoint import infer_num_classes, load_by_keys, read_checkpoint
from seewhy.models.labels import imagenet_labels, read_labels
from seewhy.models.registry import BUNDLED, WeightsSpec

LIBRARIES: dict[str, ModuleType] = {"torchvision": torchvision_models, "timm": timm_models}
#: Name prefixes that force where a model comes from, e.g. ``"timm:resnet50"``.
PREFIXES = {"tv": "torchvision", "torchvision": "torchvision", "timm": "timm", "bundled": "bundled"}
ORDER = ("bundled", "torchvision", "timm")
LIST_HINT = (
    " Run `seewhy models` to list the known names; any name from timm.list_models() works too."
)


def load_model(
    name: str | nn.Module,
    weights: WeightsSpec = None,
    *,
    output: int | str | OutputSelector | None = None,
    labels: Sequence[str] | str | os.PathLike | None = None,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    device: str | torch.device | None = None,
    display_name: str | None = None,
    crop: bool | None = None,
) -> LoadedModel:
    """A model ready to explain, in eval mode.

    Args:
        name: a bundled name (``"efficientnet_lite0"``: ImageNet weights shipped with seewhy,
            no download), a torchvision classifier (``"resnet50"``), a timm model
            (``"convnext_tiny"``), or your own ``nn.Module``. A plain name is looked up in that
            order; ``"tv:"``/``"timm:"`` prefixes force the library (``"timm:resnet50"``).
        weights: ``None`` for the model's default weights (bundled, or downloaded by
            torchvision/timm and cached), ``"random"`` for random initialization, or the path
            of a checkpoint (a state dict, possibly under ``"state_dict"``/``"model"``).
        output: picks the class scores when the model returns a tuple, dict or ModelOutput:
            an index, a key, an attribute name or a function.
        labels: class names, or the path of a file of them (one name per line, or a JSON
            list, or a JSON ``{"0": name, ...}`` dict; :func:`~seewhy.models.labels.read_labels`);
            for a library model built randomly or from a checkpoint, their count also sets
            the number of classes.
        input_size, mean, std: override the preprocessing.
        device: where to move the module (once, here); a device this machine lacks is an
            OptionError listing the ones it has.
        display_name: the name shown in reports (default: the model name or class name).
        crop: ``True`` resizes the shorter side, then centre-crops (torchvision's
            evaluation convention, :meth:`LoadedModel.display`); ``False`` squashes the whole
            photo to the square input. ``None`` keeps the model's default, which is ``False``
            for every model seewhy loads (bundled, torchvision, timm and your own), so that
            every part of the photo is seen and can be explained.

    Raises:
        ModelError: unknown name, unreadable or mismatched checkpoint, failed download, or a
            bad option.
    """
    labels_file = None
    if isinstance(labels, (str, os.PathLike)):
        labels_file, labels = os.fspath(labels), read_labels(labels)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ModelError(
            f"weights must be None, 'random' or a checkpoint path, not {type(weights).__name__}"
        )
    if isinstance(name, nn.Module):
        loaded = wrap_module(name, weights)
    elif isinstance(name, str):
        source, key = resolve(name)
        if source == "bundled":
            loaded = BUNDLED[key].factory(weights)
        else:
            loaded = from_library(LIBRARIES[source], key, weights, labels)
    else:
        raise ModelError(
            f"load_model takes a model name or an nn.Module, not {type(name).__name__}"
        )
    loaded = customize(
        loaded,
        output=output,
        labels=labels,
        input_size=input_size,
        mean=mean,
        std=std,
        device=device,
        display_name=display_name,
        crop=crop,
    )
    if labels_file is not None:
        loaded.extra["labels"] = labels_file
    return loaded


def resolve(name: str) -> tuple[str, str]:
    """``(source, name)`` for a model name: source is ``"bundled"``, ``"torchvision"`` or ``"timm"``.

    Names are tried as given, then lower-cased with ``-`` as ``_``.
    """
    text = name.strip()
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in PREFIXES:
        source = PREFIXES[prefix.lower()]
        key = _find(source, rest.strip())
        if key is None:
            raise ModelError(
                f"unknown {source} model {rest.strip()!r}."
                + suggestion(rest.strip(), source_names(source))
                + LIST_HINT
            )
        return source, key
    for source in ORDER:
        key = _find(source, text)
        if key is not None:
            return source, key
    everything = dict.fromkeys(n for source in ORDER for n in source_names(source))
    raise ModelError(f"unknown model {name!r}." + suggestion(text, everything) + LIST_HINT)


def source_names(source: str) -> list[str]:
    """The model names one source knows."""
    if source == "bundled":
        return list(BUNDLED)
    return list(LIBRARIES[source].names())


def _find(source: str, text: str) -> str | None:
    for candidate in dict.fromkeys([text, text.lower().replace("-", "_")]):
        if not candidate:
            continue
        if source == "bundled" and candidate in BUNDLED:
            return candidate
        if source != "bundled" and LIBRARIES[source].has(candidate):
            return candidate
    return None


def from_library(
    library: ModuleType, name: str, weights: WeightsSpec, labels: list[str] | None
) -> LoadedModel:
    """A torchvision or timm model with default, random or checkpoint weights."""
    requested = len(labels) if labels else None
    if weights is None:
        module = library.pretrained(name)
        requested = None
        described = "pretrained"
    elif isinstance(weights, str) and weights == "random":
        module = library.build(name, requested)
        described = "random"
    else:
        state = read_checkpoint(weights)
        module = library.build(name, requested)
        if requested is None:
            requested = infer_num_classes(module.state_dict(), state)
            if requested is not None:
                module = library.build(name, requested)
        load_by_keys(module, state, source=str(weights))
        described = str(weights)
    size, mean, std = library.data_config(name, module)
    classes = library.num_classes(module, requested)
    return LoadedModel(
        module=module.eval(),
        name=name,
        input_size=size,
        mean=mean,
        std=std,
        labels=imagenet_labels() if classes == 1000 else None,
        extra={"source": library.SOURCE, "weights": described, "num_classes": classes},
    )


def wrap_module(module: nn.Module, weights: WeightsSpec) -> LoadedModel:
    """Your own module (in eval mode), with a checkpoint loaded into it if ``weights`` is a path."""
    described = "as given"
    if weights is not None and not (isinstance(weights, str) and weights == "random"):
        load_by_keys(module, read_checkpoint(weights), source=str(weights))
        described = str(weights)
    return LoadedModel.wrap(module.eval(), extra={"source": "user", "weights": described})


def customize(
    loaded: LoadedModel,
    *,
    output: int | str | OutputSelector | None,
    labels: list[str] | None,
    input_size: int | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    device: str | torch.device | None,
    display_name: str | None,
    crop: bool | None = None,
) -> LoadedModel:
    """``loaded`` with the caller's overrides applied and checked."""
    changes: dict = {}
    if output is not None:
        changes["output"] = make_selector(output)
    if labels is not None:
        labels = [str(label) for label in labels]
        classes = loaded.extra.get("num_classes")
        if classes is not None and len(labels) != classes:
            raise ModelError(
                f"labels has {len(labels)} names but {loaded.name!r} has {classes} classes"
            )
        changes["labels"] = labels
        changes["extra"] = {**loaded.extra, "labels": f"{len(labels)} given"}
    if input_size is not None:
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise ModelError(f"input_size must be a positive int, not {input_size!r}")
        changes["input_size"] = input_size
    for key, value in (("mean", mean), ("std", std)):
        if value is not None:
            values = tuple(float(v) for v in value)
            if len(values) not in (1, 3) or (key == "std" and any(v == 0 for v in values)):
                raise ModelError(f"{key} must have 3 (or 1) values, std non-zero; got {value!r}")
            # One value: the same for the three channels, or a 1-channel model's own.
            three = len(values) == 1 and len(getattr(loaded, key)) == 3
            changes[key] = values * 3 if three else values
    if display_name is not None:
        changes["name"] = display_name
    if crop is not None:
        if not isinstance(crop, bool):
            raise ModelError(f"crop must be True or False, not {crop!r}")
        changes["crop"] = crop
    if device is not None:
        device = resolve_device(device)  # a device this machine lacks: an OptionError
        try:
            loaded.module.to(device)
        except (RuntimeError, AssertionError, ValueError) as error:
            raise ModelError(f"could not move the model to device {device!r}: {error}") from error
    return dataclasses.replace(loaded, **changes) if changes else loaded


def known_models(include_timm: bool = False) -> dict[str, str]:
    """Model names that ``load_model`` accepts, each with a one-line description.

    The bundled models come first, then torchvision's classifiers; with ``include_timm`` every
    timm architecture too (as ``"timm:<name>"`` where torchvision has the same name).
    """
    found = {name: entry.description for name, entry in BUNDLED.items()}
    for name in torchvision_models.names():
        found.setdefault(name, torchvision_models.describe(name))
    if include_timm:
        for name in timm_models.names():
            key = f"timm:{name}" if name in found else name
            found[key] = f"timm; {timm_models.DOWNLOAD}"
    return found
