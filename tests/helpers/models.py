"""Tiny hand-built and small torchvision models shared by the tests (no downloads), and
the helpers that check the engine's fast path on them."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from seewhy.engine.fold import fold_batchnorm


class TinyGapNet(nn.Module):
    """conv -> ReLU(inplace) -> conv -> ReLU -> GAP -> Linear: CAM's premise holds at ``features``."""

    def __init__(self, classes: int = 5, channels: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, stride=2),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def resnet18(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).eval()


def dirty(model: nn.Module) -> nn.Module:
    """Train mode, a frozen first parameter and an accumulated .grad, as users leave models."""
    model.train()
    next(model.parameters()).requires_grad_(False)
    last = list(model.parameters())[-1]
    last.grad = torch.full_like(last, 3.0)
    return model


def snapshot(module: nn.Module) -> dict[str, object]:
    """Everything the engine must leave as it found it."""
    return {
        "training": {name: m.training for name, m in module.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in module.named_parameters()},
        "grad": {name: p.grad for name, p in module.named_parameters()},
        "inplace": {
            name: m.inplace
            for name, m in module.named_modules()
            if isinstance(getattr(m, "inplace", None), bool)
        },
        "hooks": sum(
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
            for m in module.modules()
        ),
        # The engine's instance-level forwards (folded BatchNorms, ReLU rules) must be gone.
        "patched": sorted(name for name, m in module.named_modules() if "forward" in vars(m)),
    }


def vgg11(seed: int = 0) -> nn.Module:
    """VGG-11 (no BatchNorm, every ReLU in place), random weights."""
    torch.manual_seed(seed)
    return torchvision.models.vgg11(weights=None).eval()


class TwoLayerReLU(nn.Module):
    """x (B, 3, 1, 1) -> Linear(3, 3) -> ReLU -> Linear(3, 2), weights set by hand::

        W1 = [[1, 0, 1], [0, 1, -1], [1, 1, 0]]    W2 = [[2, 3, -1], [1, 1, 1]]

    ``functional=True`` calls ``F.relu`` instead of the ``nn.ReLU`` module.
    """

    def __init__(self, functional: bool = False, inplace: bool = True) -> None:
        super().__init__()
        self.hidden = nn.Linear(3, 3, bias=False)
        self.relu = nn.ReLU(inplace=inplace)
        self.out = nn.Linear(3, 2, bias=False)
        self.functional = functional
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[1.0, 0, 1], [0, 1, -1], [1, 1, 0]]))
            self.out.weight.copy_(torch.tensor([[2.0, 3, -1], [1, 1, 1]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.hidden(x.flatten(1))
        hidden = torch.nn.functional.relu(hidden) if self.functional else self.relu(hidden)
        return self.out(hidden)


def with_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters far from the identity, so folding matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=generator))
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=generator))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=generator))
    return model.eval()


def close(ours: torch.Tensor, reference: torch.Tensor, rtol: float = 1e-5) -> None:
    """``ours`` equals a non-zero ``reference`` to within ``rtol`` of the reference's peak."""
    reference = reference.detach()
    scale = float(reference.abs().max())
    assert scale > 0
    error = float((ours - reference).abs().max())
    assert error <= rtol * scale, f"max abs difference {error:.3g} vs peak {scale:.3g}"


def count_folds(monkeypatch: pytest.MonkeyPatch, engine_module: object) -> list[int]:
    """The number of patches of each ``fold_batchnorm`` call made from ``engine_module``."""
    folded: list[int] = []

    def spy(module: nn.Module, keep=()) -> list:
        patches = fold_batchnorm(module, keep)
        folded.append(len(patches))
        return patches

    monkeypatch.setattr(engine_module, "fold_batchnorm", spy)
    return folded
