"""timm's models (``timm.list_models()``: ``resnet10t``, ``convnext_tiny``, ``vit_small_...``).

Pretrained weights are timm's, downloaded from the Hugging Face Hub on first use and cached.
"""

from __future__ import annotations

import functools

from torch import nn

from seewhy.errors import ModelError

SOURCE = "timm"
DOWNLOAD = "weights downloaded from the Hugging Face Hub on first use"


@functools.cache
def names() -> tuple[str, ...]:
    """The architecture names timm can build."""
    import timm

    return tuple(timm.list_models())


def has(name: str) -> bool:
    """Whether timm knows ``name`` (also with a pretrained tag, ``"resnet50.a1_in1k"``)."""
    import timm

    return name.startswith(("hf-hub:", "hf_hub:")) or timm.is_model(name)


def build(name: str, num_classes: int | None = None) -> nn.Module:
    """A randomly initialized ``name`` (its default class count unless ``num_classes``)."""
    import timm

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return timm.create_model(name, pretrained=False, **kwargs)


def pretrained(name: str) -> nn.Module:
    """``name`` with timm's pretrained weights (downloaded from the Hugging Face Hub)."""
    import timm

    try:
        return timm.create_model(name, pretrained=True)
    except Exception as error:
        raise ModelError(
            f"could not download the pretrained weights of timm {name!r}: "
            f"{type(error).__name__}: {error}. Pass weights=PATH to a saved state dict, or "
            "weights='random' for random initialization"
        ) from error


def data_config(name: str, module: nn.Module) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """``(input_size, mean, std)`` from timm's pretrained config of ``module``."""
    import timm.data

    config = timm.data.resolve_data_config({}, model=module)
    return (
        int(config["input_size"][-1]),
        tuple(float(v) for v in config["mean"]),
        tuple(float(v) for v in config["std"]),
    )


def num_classes(module: nn.Module, requested: int | None) -> int | None:
    """The class count of a timm model."""
    return getattr(module, "num_classes", requested)
