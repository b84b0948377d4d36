"""Engine calls the tests make directly: one capture pass, and runners for copies."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from seewhy.engine.capture import Capture
from seewhy.engine.runner import HeadScores, Runner
from seewhy.engine.targets import FixedTargets, Objective, ResolvedTargets, TargetSpec
from seewhy.models import LoadedModel


def loaded(model: nn.Module | LoadedModel) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else LoadedModel(module=model)


def capture(
    model: nn.Module | LoadedModel,
    inputs: torch.Tensor,
    layers: Sequence[str],
    targets: TargetSpec = "top1",
    *,
    score: str = "logit",
    counterfactual: bool = False,
    fast: bool = True,
    rules: Sequence[str] = (),
    need_gradients: bool = True,
    need_heads: bool = False,
) -> Capture:
    """``Runner(model, Objective(targets, score, counterfactual), fast).capture(...)``."""
    runner = Runner(loaded(model), Objective(targets, score, counterfactual), fast=fast)
    return runner.capture(
        inputs, layers, rules=rules, need_gradients=need_gradients, need_heads=need_heads
    )


def copies_runner(
    model: nn.Module | LoadedModel,
    targets: FixedTargets,
    *,
    score: str = "logit",
    counterfactual: bool = False,
    fast: bool = True,
) -> Runner:
    """A runner whose targets are fixed on a clean batch, for scoring copies."""
    return Runner(loaded(model), Objective(targets, score, counterfactual), fast=fast)  # type: ignore[arg-type]


def head_scores(
    model: nn.Module | LoadedModel,
    layer: str,
    inputs: torch.Tensor,
    activations: torch.Tensor,
    output: torch.Tensor,
    targets: FixedTargets,
    *,
    score: str = "logit",
    counterfactual: bool = False,
) -> HeadScores:
    """The head scores of ``layer`` for a batch whose layer output and model output are given."""
    runner = copies_runner(model, targets, score=score, counterfactual=counterfactual)
    empty = torch.zeros(output.shape[0], 0)
    captured = Capture(
        output, ResolvedTargets(empty.long(), empty, empty, empty), {layer: activations}, {}, {}
    )
    return runner.head_scores(layer, inputs, captured)
