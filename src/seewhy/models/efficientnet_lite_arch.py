"""The EfficientNet-Lite0/1/2 network (Tan and Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019; the Lite variants of the TensorFlow TPU repository:
no squeeze-excitation, ReLU6, fixed stem and head), built without importing timm.

The module tree is timm's ``tf_efficientnet_lite{0,1,2}``, name for name and class name for
class name (``conv_stem``, ``bn1``, ``blocks.<stage>.<block>.conv_pw`` ..., ``conv_head``,
``bn2``, ``global_pool``, ``classifier``), so layer names, checkpoints with timm's keys and the
bundled weights (loaded by position) work unchanged; ``tests/models/test_efficientnet_lite_arch.py``
checks names, shapes and outputs against timm. Importing timm costs about as much as
importing torch itself (it imports torchvision, which imports ``torch._dynamo``); the bundled
models are what ``seewhy explain`` runs with no flag, so they start without it.

TensorFlow "same" padding: a stride-2 convolution pads ``max((ceil(i / s) - 1) s + k - i, 0)``
pixels, the smaller half first (:class:`Conv2dSame`); stride-1 convolutions pad ``(k - 1) / 2``
on each side, which is the same.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EfficientNet", "efficientnet_lite"]

#: Per stage: block kind ("ds" depthwise-separable, "ir" inverted residual), kernel, stride,
#: then per variant (output channels, repeats). Expansion 6 in every inverted residual.
STAGES = (
    ("ds", 3, 1, ((16, 1), (16, 1), (16, 1))),
    ("ir", 3, 2, ((24, 2), (24, 3), (24, 3))),
    ("ir", 5, 2, ((40, 2), (40, 3), (48, 3))),
    ("ir", 3, 2, ((80, 3), (80, 4), (88, 4))),
    ("ir", 5, 1, ((112, 3), (112, 4), (120, 4))),
    ("ir", 5, 2, ((192, 4), (192, 5), (208, 5))),
    ("ir", 3, 1, ((320, 1), (320, 1), (352, 1))),
)
STEM, HEAD, EXPANSION, BN_EPS = 32, 1280, 6, 1e-3


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding, computed from the input's size."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, padding=0, **kwargs)  # type: ignore[misc]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class BatchNormAct2d(nn.BatchNorm2d):
    """Batch norm, then ``drop`` (identity), then ``act`` (ReLU6 or identity), as timm's."""

    def __init__(self, channels: int, act: bool) -> None:
        super().__init__(channels, eps=BN_EPS)
        self.drop = nn.Identity()
        self.act: nn.Module = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(super().forward(x)))


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:
        return nn.Conv2d(cin, cout, k, 1, (k - 1) // 2, groups=groups, bias=False)
    return Conv2dSame(cin, cout, k, stride, groups=groups, bias=False)


class DepthwiseSeparableConv(nn.Module):
    """Depthwise conv, BN + ReLU6, pointwise conv, BN (the first stage's block)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.has_skip = stride == 1 and cin == cout
        self.conv_dw = _conv(cin, cin, k, stride, groups=cin)
        self.bn1 = BatchNormAct2d(cin, act=True)
        self.aa = nn.Identity()
        self.se = nn.Identity()
        self.conv_pw = _conv(cin, cout, 1)
        self.bn2 = BatchNormAct2d(cout, act=False)
        self.drop_path = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.se(self.aa(self.bn1(self.conv_dw(x))))
        x = self.bn2(self.conv_pw(x))
        return self.drop_path(x) + shortcut if self.has_skip else x


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand 1x1, BN + ReLU6, depthwise, BN + ReLU6, project 1x1, BN,
    plus the input when the shape is kept."""

    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        mid = cin * EXPANSION
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = _conv(cin, mid, 1)
        self.bn1 = BatchNormAct2d(mid, act=True)
        self.conv_dw = _conv(mid, mid, k, stride, groups=mid)
        self.bn2 = BatchNormAct2d(mid, act=True)
        self.aa = nn.Identity()
        self.se = nn.Identity()
        self.conv_pwl = _conv(mid, cout, 1)
        self.bn3 = BatchNormAct2d(cout, act=False)
        self.drop_path = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))
        x = self.bn3(self.conv_pwl(self.se(self.aa(x))))
        return self.drop_path(x) + shortcut if self.has_skip else x


class SelectAdaptivePool2d(nn.Module):
    """Global average pooling, then flatten (timm's ``global_pool``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.pool(x))


class EfficientNet(nn.Module):
    """EfficientNet-Lite``variant`` (0, 1 or 2), 1000 classes; ``drop_rate`` is the dropout
    before the classifier in training (0.2, as timm's)."""

    def __init__(self, variant: int, num_classes: int = 1000, drop_rate: float = 0.2) -> None:
        super().__init__()
        self.num_classes, self.drop_rate = num_classes, drop_rate
        self.conv_stem = _conv(3, STEM, 3, 2)
        self.bn1 = BatchNormAct2d(STEM, act=True)
        stages, cin = [], STEM
        for kind, k, stride, sizes in STAGES:
            cout, repeats = sizes[variant]
            block = DepthwiseSeparableConv if kind == "ds" else InvertedResidual
            stage = [
                block(cin if i == 0 else cout, cout, k, stride if i == 0 else 1)
                for i in range(repeats)
            ]
            stages.append(nn.Sequential(*stage))
            cin = cout
        self.blocks = nn.Sequential(*stages)
        self.conv_head = _conv(cin, HEAD, 1)
        self.bn2 = BatchNormAct2d(HEAD, act=True)
        self.global_pool = SelectAdaptivePool2d()
        self.classifier = nn.Linear(HEAD, num_classes)
        self.apply(_init_goog)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))
        x = self.global_pool(x)
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)


def _init_goog(m: nn.Module) -> None:
    """The TensorFlow repository's initialisation, as timm's ``_init_weight_goog``."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        bound = 1.0 / math.sqrt(m.weight.shape[0])
        nn.init.uniform_(m.weight, -bound, bound)
        nn.init.zeros_(m.bias)


def efficientnet_lite(variant: int) -> EfficientNet:
    """A randomly initialised EfficientNet-Lite``variant`` in eval mode."""
    if variant not in (0, 1, 2):
        raise ValueError(f"EfficientNet-Lite variant must be 0, 1 or 2, got {variant!r}")
    return EfficientNet(variant).eval()
