"""Find, name and choose the layer whose activations a CAM explains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from seewhy.engine.guard import preserved
from seewhy.engine.inputs import NO_ARGS, ForwardArgs, call_model
from seewhy.engine.spatial import features_last, model_hints, read_shape
from seewhy.errors import LayerError, suggestion

#: Module classes that only run their children in order.
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


@dataclass(frozen=True)
class LayerInfo:
    """One module's output in a probe forward pass.

    Attributes:
        name: dotted name in ``named_modules()``.
        kind: the module's class name.
        shape: output shape for a batch of one (None when the output is not a tensor).
        order: when the module finished in the forward pass (0 = first).
        reading: how the output reads as a spatial map of the input (``"channels-first"``,
            ``"channels-last"``, ``"tokens"``; see :mod:`seewhy.engine.spatial`), or None.
        calls: how many times the module ran in the pass (a shared module, e.g. one
            ``ReLU`` called after every convolution, runs more than once; ``shape`` and
            ``order`` are those of its last call).
    """

    name: str
    kind: str
    shape: tuple[int, ...] | None
    order: int
    reading: str | None = None
    calls: int = 1

    @property
    def spatial(self) -> bool:
        return self.reading is not None

    @property
    def redundant(self) -> bool:
        """An ``Identity`` (its output is its input, listed above it) or a nested pure
        container (``blocks.3``, a ``Sequential`` whose output is its last block's);
        top-level containers (ResNet's ``layer4``) are kept, as their names are the ones
        people give. ``seewhy layers`` hides these unless ``--all``."""
        return self.kind == "Identity" or (self.kind in CONTAINERS and "." in self.name)


# Adaptive pooling resamples to a fixed size (VGG's 7x7 ``avgpool``): part of the head.
_HEAD_POOLING = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")


def probe_layers(
    module: nn.Module, example: torch.Tensor, extra: ForwardArgs = NO_ARGS
) -> list[LayerInfo]:
    """Every named submodule that ran, with its output shape and how it reads as a map of
    ``example`` (B, C, H, W), in the order they finished (``extra``: the model's other
    inputs for ``example``)."""
    found: dict[str, LayerInfo] = {}
    finished = [0]
    size = (int(example.shape[-2]), int(example.shape[-1]))
    hints = model_hints(module)

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            last = shape is not None and len(shape) == 4 and features_last(_module)
            view = read_shape(shape, size, hints, last) if shape is not None else None
            reading = view.kind if view is not None else None
            calls = found[name].calls + 1 if name in found else 1
            found[name] = LayerInfo(
                name, type(_module).__name__, shape, finished[0], reading, calls
            )
            finished[0] += 1

        return hook

    with preserved(module) as handles, torch.no_grad():
        for name, submodule in module.named_modules():
            if name:
                handles.append(submodule.register_forward_hook(hook_for(name)))
        call_model(module, example, extra)
    return sorted(found.values(), key=lambda info: info.order)


def _timm_vit(module: nn.Module) -> str | None:
    """timm's VisionTransformer family (ViT, DeiT, BEiT, EVA): the last block's ``norm1``."""
    blocks = getattr(module, "blocks", None)
    if not isinstance(getattr(module, "num_prefix_tokens", None), int):
        return None
    if not isinstance(blocks, (nn.Sequential, nn.ModuleList)) or len(blocks) == 0:
        return None
    return f"blocks.{len(blocks) - 1}.norm1" if hasattr(blocks[-1], "norm1") else None


def _torchvision_vit(module: nn.Module) -> str | None:
    """torchvision's VisionTransformer: the last encoder layer's ``ln_1``."""
    layers = getattr(getattr(module, "encoder", None), "layers", None)
    if not isinstance(getattr(module, "class_token", None), torch.Tensor):
        return None
    if not isinstance(layers, nn.Sequential) or len(layers) == 0:
        return None
    name, last = list(layers.named_children())[-1]
    return f"encoder.layers.{name}.ln_1" if hasattr(last, "ln_1") else None


def _torchvision_swin(module: nn.Module) -> str | None:
    """torchvision's SwinTransformer: the final ``norm`` (its ``permute`` is the same map)."""
    parts = ("features", "norm", "permute", "avgpool")
    return "norm" if all(isinstance(getattr(module, p, None), nn.Module) for p in parts) else None


#: Families whose best layer is not the last spatial one, by what their modules hold.
FAMILY_LAYERS: tuple[Callable[[nn.Module], str | None], ...] = (
    _timm_vit,
    _torchvision_vit,
    _torchvision_swin,
)


def auto_layer(module: nn.Module, example: torch.Tensor, extra: ForwardArgs = NO_ARGS) -> str:
    """The layer ``layer="auto"`` explains for inputs shaped like ``example``.

    - timm's VisionTransformer family (ViT, DeiT with its distillation token, BEiT, EVA):
      ``blocks.<last>.norm1``; torchvision's ViT: ``encoder.layers.encoder_layer_<last>.ln_1``.
      The head reads only the class token, so after the last block's attention the patch
      tokens no longer reach the score: the last block's output (and the final norm) get
      exactly zero gradient at every patch. ``norm1`` feeds the last attention, where the
      patch tokens still reach the class token (pytorch-grad-cam's documented choice);
    - Swin (timm and torchvision): the final ``norm``, the channels-last 7x7 grid (at 224)
      just before global pooling and the Linear head, like a CNN's last stage (timm's is
      found by the general rule, torchvision's ``permute`` after it is the same map);
    - every other model: the last module to finish whose output reads as a spatial map of
      the input (:func:`~seewhy.engine.spatial.read_shape`: channels-first, channels-last
      or tokens with a grid that fits the input). A container finishes after its children,
      so when ``layer4`` returns the output of ``layer4.2`` the container is chosen, as
      users name it; containers that also hold the head output no spatial map and never
      qualify, nor does adaptive pooling (part of the head), nor a module that runs more
      than once per pass (a shared ``ReLU`` called after every convolution: its map is
      ambiguous, and the capture refuses it). Token outputs are chosen
      only when no module outputs a map or a grid: read without the model's patch size,
      any (B, N, C) sequence whose length fits a grid would qualify (a question's word
      embeddings in an image + question model).

    A family's layer is used only if the probe forward ran it with a spatial output.
    """
    infos = probe_layers(module, example, extra)
    spatial = [
        info
        for info in infos
        if info.spatial and info.kind not in _HEAD_POOLING and info.calls == 1
    ]
    names = {info.name for info in spatial}
    for prefix, submodule in module.named_modules():
        for family in FAMILY_LAYERS:
            name = family(submodule)
            if name is not None and (prefix + "." if prefix else "") + name in names:
                return (prefix + "." if prefix else "") + name
    if not spatial:
        raise LayerError(
            "no module of this model outputs a spatial map of the given input (a (B, C, h, w) "
            "map or (B, h, w, C) grid with h*w > 1, or (B, N, C) tokens on such a grid); "
            "pass layer= explicitly, with reshape= if its output needs one"
        )
    # Tokens are a guess without the model's word (a question's word embeddings read as a
    # 2 x 2 grid): a grid or map wins when there is one.
    grids = [info for info in spatial if info.reading != "tokens"]
    return (grids or spatial)[-1].name


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
