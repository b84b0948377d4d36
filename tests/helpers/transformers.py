"""Tiny token and channels-last models shared by the tests (random weights, no downloads)."""

from __future__ import annotations

import torch
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn


def tiny_vit(seed: int = 0, reg_tokens: int = 0) -> VisionTransformer:
    """timm's ViT on 32x32 inputs: 8x8 patches (a 4x4 grid), 16 channels, 2 blocks, 5
    classes; ``1 + reg_tokens`` prefix tokens."""
    torch.manual_seed(seed)
    return VisionTransformer(
        img_size=32,
        patch_size=8,
        embed_dim=16,
        depth=2,
        num_heads=2,
        num_classes=5,
        reg_tokens=reg_tokens,
    ).eval()


def tiny_swin(seed: int = 0) -> SwinTransformer:
    """timm's Swin on 32x32 inputs: channels-last stages, a 4x4 grid at its final ``norm``."""
    torch.manual_seed(seed)
    return SwinTransformer(
        img_size=32,
        patch_size=4,
        window_size=2,
        embed_dim=8,
        depths=(1, 1),
        num_heads=(1, 1),
        num_classes=5,
    ).eval()


class TinyTokens(nn.Module):
    """x (B, 3, 4, 6) -> 2x2 patches (a 2x3 grid) embedded to C=4 -> a class token prepended
    -> ``mix`` (per-token Linear, the explained layer, (B, 7, 4)) -> tanh -> Linear of the
    class token plus the mean patch token -> 3 classes. Declares nothing about its tokens."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Conv2d(3, 4, kernel_size=2, stride=2)
        self.class_token_ = nn.Parameter(torch.randn(1, 1, 4))
        self.mix = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (B, 6, 4), row-major patches
        tokens = torch.cat([self.class_token_.expand(x.shape[0], -1, -1), tokens], dim=1)
        mixed = torch.tanh(self.mix(tokens))
        return self.head(mixed[:, 0] + mixed[:, 1:].mean(dim=1))


def tiny_tokens_reshape(tokens: torch.Tensor) -> torch.Tensor:
    """:class:`TinyTokens`' ``mix`` output (B, 7, C) -> (B, C, 2, 3), as pytorch-grad-cam's
    ``reshape_transform`` is written."""
    return tokens[:, 1:].reshape(tokens.shape[0], 2, 3, tokens.shape[2]).permute(0, 3, 1, 2)
