"""Tiny two-input models (image + question, image + caption) and hand-rolled Grad-CAM on them."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _features(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1, stride=2),
        nn.ReLU(),
    )


class TinyVQA(nn.Module):
    """``(image (B, 3, H, W), question (B, L) token ids, scale) -> (B, answers)`` logits.

    The question gates the image's channels after ``features``, so the answer's gradient at
    ``features`` depends on which question goes with which image.
    """

    def __init__(self, vocab: int = 20, answers: int = 6, channels: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.features = _features(channels)
        self.embed = nn.Embedding(vocab, channels)
        self.fc = nn.Linear(channels, answers)

    def forward(
        self, image: torch.Tensor, question: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        activations = self.features(image)
        gate = torch.sigmoid(2 * self.embed(question).mean(dim=1))  # (B or 1, C)
        return self.fc((activations * gate[:, :, None, None]).mean(dim=(2, 3))) * scale


class TinyCaptioner(nn.Module):
    """``(image (B, 3, H, W), tokens (B, L)) -> (B, L, vocab)``: next-word logits per position."""

    def __init__(self, vocab: int = 12, channels: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.features = _features(channels)
        self.embed = nn.Embedding(vocab, channels)
        self.out = nn.Linear(channels, vocab)

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        pooled = self.features(image).mean(dim=(2, 3))  # (B, C)
        return self.out(torch.tanh(self.embed(tokens) + pooled[:, None, :]))


def hand_gradcam(
    model: nn.Module,
    image: torch.Tensor,
    score: Callable[[torch.Tensor], torch.Tensor],
    *args: object,
) -> torch.Tensor:
    """(B, h, w) Grad-CAM at ``model.features`` of ``score(model(image, *args))`` (B,),
    written out: ``ReLU(sum_k mean_ij(dS/dA^k) A^k)``."""
    kept: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        kept["a"] = output

    handle = model.features.register_forward_hook(hook)
    try:
        score(model(image, *args)).sum().backward()
    finally:
        handle.remove()
    model.zero_grad(set_to_none=True)
    activations, gradients = kept["a"], kept["a"].grad
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations).sum(dim=1)).detach()


def hand_input_gradient(
    model: nn.Module,
    image: torch.Tensor,
    score: Callable[[torch.Tensor], torch.Tensor],
    *args: object,
) -> torch.Tensor:
    """(B, 3, H, W) ``d score / d image``."""
    x = image.clone().requires_grad_(True)
    score(model(x, *args)).sum().backward()
    model.zero_grad(set_to_none=True)
    return x.grad.detach()
