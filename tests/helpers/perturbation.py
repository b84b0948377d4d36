"""What the perturbation methods' tests share (occlusion, Score-CAM, Ablation-CAM, and the
engine's perturbation forwards): a tiny model, the peers' models and results, call counters.

Peers run on torchvision ResNet-18 (residual, ``layer4``) and VGG-11's layout (plain, in-place
ReLUs, ``features.19``, its last ReLU). The fast VGG is VGG-11 at 1/8 of its width, so
Score-CAM's masked forwards stay cheap; the real VGG-11 runs under ``-m slow``.
pytorch-grad-cam's maps are min-max normalized, so ours are compared after
``(m - min) / (max - min + 1e-7)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torchvision
from helpers.models import TinyGapNet, dirty, snapshot
from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

import seewhy

PGC_ATOL = 1e-4  # normalized maps in [0, 1]; measured <= 2e-6

# ---------------------------------------------------------------- models


class NarrowVGG11(nn.Module):
    """VGG-11's layout (torchvision's ``make_layers``: 8 convs, in-place ReLUs, 5 max-pools;
    7x7 adaptive pool; classifier with in-place ReLUs and dropout) at 1/8 of the width."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        cfg: list[int | str] = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M"]
        self.features = torchvision.models.vgg.make_layers(cfg)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(128, 128),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(128, classes),
        )
        for module in self.features:
            if isinstance(module, nn.Conv2d):  # torchvision's VGG init: activations keep scale
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def tiny(classes: int = 8) -> TinyGapNet:
    torch.manual_seed(0)
    return TinyGapNet(classes=classes, channels=6).eval()


def explain(model: nn.Module, x: torch.Tensor, methods: dict, targets: object = "top2", **kw):
    layer = kw.pop("layer", "features")
    return seewhy.Explainer(model, layer=layer).explain(
        x, methods, targets=targets, progress=False, **kw
    )


# ---------------------------------------------------------------- counters


class Calls:
    """A user's forward pre-hook on a module, counting calls and the rows they carry."""

    def __init__(self, module: nn.Module) -> None:
        self.sizes: list[int] = []
        self.handle = module.register_forward_pre_hook(self)

    def __call__(self, _module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.sizes.append(int(args[0].shape[0]))

    @property
    def count(self) -> int:
        return len(self.sizes)

    def assert_passes(self, copies: int, batch_size: int) -> None:
        """The calls so far carried ``copies`` rows in as few passes as ``batch_size`` allows."""
        assert sum(self.sizes) == copies, self.sizes
        assert len(self.sizes) == math.ceil(copies / batch_size), self.sizes
        assert max(self.sizes) <= batch_size, self.sizes

    def reset(self) -> None:
        self.sizes.clear()


def layer_state(model: nn.Module, layer: str, x: torch.Tensor) -> tuple[torch.Tensor, object]:
    """The layer's output from a plain hook (cloned: in-place ops after it can't change it)
    and the model's output, in the model's current mode."""
    stored: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: object, output: torch.Tensor) -> None:
        stored["A"] = output.detach().clone()

    handle = model.get_submodule(layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            output = model(x)
    finally:
        handle.remove()
    return stored["A"], output


def layer_output(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The layer's output alone (see :func:`layer_state`)."""
    return layer_state(model, layer, x)[0]


def distinct_masks(activations: torch.Tensor) -> int:
    """How many different Score-CAM masks a batch has: a constant channel's mask is zero."""
    total = 0
    for image in activations:
        keys = set()
        for channel in image:
            flat = channel.flatten()
            constant = bool(flat.max() == flat.min())
            keys.add(None if constant else tuple(flat.tolist()))
        total += len(keys)
    return total


# ---------------------------------------------------------------- peers


PEER_MODELS = ["resnet18", "narrow_vgg11", pytest.param("vgg11", marks=pytest.mark.slow)]


@functools.cache
def build(name: str) -> tuple[nn.Module, str, torch.Tensor]:
    """(model, layer, input), built once; each test module clears the cache as it ends."""
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    if name == "resnet18":
        model: nn.Module = torchvision.models.resnet18(weights=None, num_classes=10)
        return model.eval(), "layer4", torch.randn(1, 3, 64, 64, generator=generator)
    if name == "narrow_vgg11":
        x = torch.randn(2, 3, 64, 64, generator=generator)
        return NarrowVGG11().eval(), "features.19", x
    if name == "vgg11":
        model = torchvision.models.vgg11(weights=None, num_classes=10)
        return model.eval(), "features.19", torch.randn(1, 3, 32, 32, generator=generator)
    raise KeyError(name)


@dataclass
class Peer:
    name: str
    module: nn.Module
    layer: str
    x: torch.Tensor
    res: seewhy.ExplanationResult
    cache: dict[str, np.ndarray] = field(default_factory=dict)

    def classes(self, t: int) -> list[int]:
        return [int(c) for c in self.res.targets[:, t]]

    def pgc(self, cls: type, t: int) -> np.ndarray:
        """pytorch-grad-cam's map for target column ``t``, computed once."""
        key = f"{cls.__name__}{t}"
        if key not in self.cache:
            kwargs = {"batch_size": 64} if cls is AblationCAM else {}
            targets = [ClassifierOutputTarget(c) for c in self.classes(t)]
            layer = self.module.get_submodule(self.layer)
            with cls(model=self.module, target_layers=[layer], **kwargs) as cam:
                cam.batch_size = 64
                self.cache[key] = cam(input_tensor=self.x, targets=targets)
        return self.cache[key]


def explained_peer(name: str, methods: dict) -> Peer:
    """The peer model ``name`` explained with ``methods`` for its top-2 targets."""
    model, layer, x = build(name)
    res = seewhy.Explainer(model, layer=layer).explain(x, methods, targets="top2", progress=False)
    return Peer(name, model, layer, x, res)


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's final scaling: ``(m - min) / (max - min + 1e-7)`` per map."""
    low = maps.amin(dim=(-2, -1), keepdim=True)
    maps = maps - low
    return maps / (maps.amax(dim=(-2, -1), keepdim=True) + 1e-7)


def assert_informative(normalized: np.ndarray) -> None:
    spread = normalized.reshape(len(normalized), -1).std(axis=1)
    assert (spread > 0.05).all(), f"degenerate maps, spreads {spread}"


# ---------------------------------------------------------------- options


def assert_bad_options_raise(methods: dict, match: str) -> None:
    """``methods`` raise a MethodError matching ``match`` and leave the model as found."""
    model = dirty(tiny())
    before = snapshot(model)
    with pytest.raises(seewhy.MethodError, match=match):
        explain(model, torch.randn(1, 3, 16, 16), methods)
    assert snapshot(model) == before


def assert_unknown_option_lists_the_allowed_ones(method: str, allowed: str) -> None:
    """An unknown option's MethodError ends with the ``allowed`` ones, before any forward."""
    model = tiny()
    calls = Calls(model)
    with pytest.raises(seewhy.MethodError, match=f"Allowed options: {allowed}$"):
        explain(model, torch.randn(1, 3, 16, 16), {method: {"foo": 1}})
    assert calls.count == 0
