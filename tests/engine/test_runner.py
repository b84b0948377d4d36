"""The runner's passes over copies: ``Runner.scores`` and ``Runner.head_scores``, called directly.

Each copy is scored for the targets of the image it stands for (``rows``), negated when
counterfactual, without building a graph, and the model is left as found; ``head_scores``
runs the network after the layer (the fx tail) or, where it can't be cut, whole forwards with
the layer's output replaced.
"""

from __future__ import annotations

import pytest
import torch
from helpers.engine import copies_runner, head_scores
from helpers.models import TinyGapNet, dirty, snapshot
from torch import nn

import seewhy
from seewhy.engine.tail import layer_tail
from seewhy.engine.targets import FixedTargets

INDICES = torch.tensor([[1, 3], [0, 2], [4, 4]])  # (B=3, T=2)
ROWS = torch.tensor([2, 0, 0, 1])  # copies out of order, image 0 twice


class State:
    """A user's forward pre-hook recording the model's mode and flags during each forward."""

    def __init__(self, module: TinyGapNet) -> None:
        self.seen: list[tuple[bool, bool, bool]] = []
        self.module = module
        module.register_forward_pre_hook(self)

    def __call__(self, module: nn.Module, _args: object) -> None:
        grad = any(p.requires_grad for p in module.parameters())
        self.seen.append((module.training, grad, self.module.features[1].inplace))


def objective(logits: torch.Tensor, rows: torch.Tensor, score: str) -> torch.Tensor:
    if score == "prob":
        logits = torch.softmax(logits, dim=1)
    elif score == "logprob":
        logits = torch.log_softmax(logits, dim=1)
    return logits.gather(1, INDICES[rows])


@pytest.mark.parametrize("counterfactual", [False, True])
@pytest.mark.parametrize("score", ["logit", "prob", "logprob"])
def test_scores_scores_each_copy_for_its_images_targets(score: str, counterfactual: bool) -> None:
    torch.manual_seed(0)
    module = dirty(TinyGapNet())
    state = State(module)
    before = snapshot(module)
    copies = torch.randn(4, 3, 16, 16, requires_grad=True)
    forward_fn = copies_runner(
        module, FixedTargets(INDICES), score=score, counterfactual=counterfactual
    ).scores
    scores = forward_fn(copies, ROWS)
    # eval and frozen; the model's in-place flags stay on (no graph: in-place is safe)
    assert state.seen == [(False, False, True)]
    assert snapshot(module) == before
    assert scores.shape == (4, 2)
    assert not scores.requires_grad and scores.grad_fn is None
    module.eval()
    with torch.no_grad():
        expected = objective(module(copies), ROWS, score)
    torch.testing.assert_close(scores, -expected if counterfactual else expected)


def test_scores_with_a_callable_target() -> None:
    torch.manual_seed(0)
    module = TinyGapNet().eval()
    targets = FixedTargets(torch.full((3, 1), -1), lambda out: out[:, 2] - out[:, 0])
    copies = torch.randn(4, 3, 16, 16)
    scores = copies_runner(module, targets).scores(copies, ROWS)
    with torch.no_grad():
        logits = module(copies)
    torch.testing.assert_close(scores, (logits[:, 2] - logits[:, 0])[:, None])


def layer_state(module: nn.Module, layer: str, x: torch.Tensor):
    stored: dict[str, torch.Tensor] = {}
    handle = module.get_submodule(layer).register_forward_hook(
        lambda _m, _i, out: stored.__setitem__("A", out.detach().clone())
    )
    with torch.no_grad():
        output = module(x)
    handle.remove()
    return stored["A"], output


@pytest.mark.parametrize("counterfactual", [False, True])
def test_head_scores_runs_the_tail_once_traced(
    counterfactual: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(1)
    module = dirty(TinyGapNet())
    module.eval()
    x = torch.randn(3, 3, 16, 16)
    activations, output = layer_state(module, "features", x)
    module.train()
    traced: list[str] = []

    def counting(*args: object) -> object:
        traced.append("tail")
        return layer_tail(*args)

    monkeypatch.setattr("seewhy.engine.runner.layer_tail", counting)
    calls = State(module)
    before = snapshot(module)
    head_fn = head_scores(
        module,
        "features",
        x,
        activations,
        output,
        FixedTargets(INDICES),
        score="prob",
        counterfactual=counterfactual,
    )
    assert traced == []  # nothing is traced until an edit is scored
    edited = activations[ROWS] * torch.rand(4, 6, 1, 1)
    scores = head_fn(edited.clone(), ROWS)
    head_fn(edited.clone(), ROWS)
    assert traced == ["tail"]
    assert calls.seen == []  # the whole model never ran: the tail did
    assert snapshot(module) == before
    assert not scores.requires_grad and scores.grad_fn is None
    with torch.no_grad():
        logits = module.fc(module.pool(edited).flatten(1))
    expected = objective(logits, ROWS, "prob")
    torch.testing.assert_close(scores, -expected if counterfactual else expected)


class SkipNet(nn.Module):
    """stem -> body (the layer) -> + stem's output -> ReLU -> GAP -> Linear: no tail."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.stem = nn.Conv2d(3, 6, 3, padding=1, stride=2)
        self.body = nn.Conv2d(6, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        return self.fc(torch.flatten(self.pool(self.relu(self.body(s) + s)), 1))


@pytest.mark.parametrize("counterfactual", [False, True])
def test_head_scores_falls_back_to_whole_forwards_with_the_layer_replaced(
    counterfactual: bool,
) -> None:
    module = dirty(SkipNet())
    module.eval()
    x = torch.randn(3, 3, 16, 16)
    activations, output = layer_state(module, "body", x)
    module.train()
    before = snapshot(module)
    forwards: list[int] = []
    module.register_forward_pre_hook(lambda _m, args: forwards.append(args[0].shape[0]))
    head_fn = head_scores(
        module,
        "body",
        x,
        activations,
        output,
        FixedTargets(INDICES),
        counterfactual=counterfactual,
    )
    edited = activations[ROWS] * torch.rand(4, 6, 1, 1)
    scores = head_fn(edited.clone(), ROWS)
    assert forwards == [len(ROWS)]  # one whole forward of the rows' images, no tail
    forwards.clear()
    module._forward_pre_hooks.clear()
    assert snapshot(module) == before  # the replacing hook is gone
    assert not scores.requires_grad and scores.grad_fn is None
    with torch.no_grad():
        logits = module.fc(module.pool(torch.relu(edited + module.stem(x[ROWS]))).flatten(1))
    expected = objective(logits, ROWS, "logit")
    torch.testing.assert_close(scores, -expected if counterfactual else expected)

    with pytest.raises(seewhy.LayerError, match="did not give the shape"):
        head_fn(edited[:, :3].clone(), ROWS)
    assert snapshot(module) == before
