"""Find, name and choose the layer whose activations a CAM explains."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seewhy.engine.guard import preserved
from seewhy.engine.inputs import NO_ARGS, ForwardArgs, call_model
from seewhy.errors import LayerError, suggestion


@dataclass(frozen=True)
class LayerInfo:
    """One module's output in a probe forward pass.

    Attributes:
        name: dotted name in ``named_modules()``.
        kind: the module's class name.
        shape: output shape for a batch of one (None when the output is not a tensor).
        order: when the module finished in the forward pass (0 = first).
    """

    name: str
    kind: str
    shape: tuple[int, ...] | None
    order: int

    @property
    def spatial(self) -> bool:
        return self.shape is not None and len(self.shape) == 4 and self.shape[2] * self.shape[3] > 1


# Adaptive pooling resamples to a fixed size (VGG's 7x7 ``avgpool``): part of the head.
_HEAD_POOLING = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")


def probe_layers(
    module: nn.Module, example: torch.Tensor, extra: ForwardArgs = NO_ARGS
) -> list[LayerInfo]:
    """Every named submodule that ran, with its output shape, in the order they finished
    (``extra``: the model's other inputs for ``example``)."""
    found: dict[str, LayerInfo] = {}
    finished = [0]

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            found[name] = LayerInfo(name, type(_module).__name__, shape, finished[0])
            finished[0] += 1

        return hook

    with preserved(module) as handles, torch.no_grad():
        for name, submodule in module.named_modules():
            if name:
                handles.append(submodule.register_forward_hook(hook_for(name)))
        call_model(module, example, extra)
    return sorted(found.values(), key=lambda info: info.order)


def auto_layer(module: nn.Module, example: torch.Tensor, extra: ForwardArgs = NO_ARGS) -> str:
    """The last module to finish whose output is still spatial.

    A container finishes after its children, so when ``layer4`` returns the output of
    ``layer4.2`` the container is chosen, as users name it; containers that also hold the
    head output no spatial map and never qualify, nor does adaptive pooling.
    """
    infos = probe_layers(module, example, extra)
    spatial = [info for info in infos if info.spatial and info.kind not in _HEAD_POOLING]
    if not spatial:
        raise LayerError(
            "no module of this model outputs a spatial (B, C, h, w) map with h*w > 1 for the "
            "given input; pass layer= explicitly"
        )
    return spatial[-1].name


def get_module(module: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``, or a LayerError listing the nearest valid names."""
    if name:
        try:
            return module.get_submodule(name)  # a walk down the name, not over the model
        except AttributeError:
            pass
    modules = dict(module.named_modules())
    if name in modules and name:
        return modules[name]
    names = [n for n in modules if n]
    hint = suggestion(name, names, n=5)
    raise LayerError(
        f"no layer named {name!r} in {type(module).__name__}.{hint} "
        "Run `seewhy layers MODEL` to list them."
    )
