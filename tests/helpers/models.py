"""Tiny hand-built and small torchvision models shared by the tests (no downloads)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn


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
    }
