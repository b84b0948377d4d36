"""The runner's passes over copies: ``Runner.scores`` and ``Runner.head_scores``, called
directly, then through the Explainer for occlusion, Score-CAM and Ablation-CAM alike.

Each copy is scored for the targets of the image it stands for (``rows``), negated when
counterfactual, without building a graph, and the model is left as found; ``head_scores``
runs the network after the layer (the fx tail) or, where it can't be cut, whole forwards with
the layer's output replaced. Through the Explainer: top-5 costs the forwards of top-1 and
equals five single runs, images split over batches and callable targets give the same maps,
and the model is left as found, also when a target fails inside the perturbation forwards.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers.engine import copies_runner, head_scores
from helpers.models import TinyGapNet, dirty, snapshot
from helpers.perturbation import Calls, distinct_masks, explain, layer_output, layer_state, tiny
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


# ---------------------------------------------------------------- through the Explainer


TOPK_METHODS = {
    "scorecam": {"batch_size": 5},
    "ablationcam": {"batch_size": 5},
    "occlusion": {"window": 4, "stride": 4, "batch_size": 5},
}


@pytest.mark.parametrize("method", list(TOPK_METHODS))
def test_top5_equals_five_single_runs_with_one_set_of_forwards(method: str) -> None:
    model = tiny()
    calls = Calls(model)
    fc_calls = Calls(model.fc)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(11))
    methods = {method: TOPK_METHODS[method]}
    top1 = explain(model, x, methods, "top1")
    counts = (calls.count, sum(fc_calls.sizes))
    calls.reset()
    fc_calls.reset()
    top5 = explain(model, x, methods, "top5")
    assert (calls.count, sum(fc_calls.sizes)) == counts

    activations = layer_output(model, "features", x)
    if method == "scorecam":
        assert counts[0] == 1 + math.ceil(distinct_masks(activations) / 5)
    elif method == "ablationcam":
        live = int(activations.flatten(2).ne(0).any(dim=2).sum())
        assert counts == (1, 2 + 2 + live)  # one model forward; fc: capture, check, ablations
    else:
        assert counts[0] == 1 + math.ceil(2 * 16 / 5)  # 4 x 4 windows per image

    kind = "attributions" if method == "occlusion" else "layer_maps"
    assert getattr(top5, kind)[method].shape[1] == 5
    torch.testing.assert_close(getattr(top1, kind)[method][:, 0], getattr(top5, kind)[method][:, 0])
    for t in range(5):
        single = explain(model, x, methods, [int(c) for c in top5.targets[:, t]])
        torch.testing.assert_close(
            getattr(single, kind)[method][:, 0], getattr(top5, kind)[method][:, t]
        )


def test_images_split_over_explainer_batches_give_the_same_maps() -> None:
    model = tiny()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(12))
    methods = dict(TOPK_METHODS)
    whole = seewhy.Explainer(model, layer="features").explain(x, methods, "top2", progress=False)
    split = seewhy.Explainer(model, layer="features", batch_size=2).explain(
        x, methods, "top2", progress=False
    )
    for name in ("scorecam", "ablationcam"):
        torch.testing.assert_close(split.layer_maps[name], whole.layer_maps[name])
    torch.testing.assert_close(split.attributions["occlusion"], whole.attributions["occlusion"])


@pytest.mark.parametrize("method", list(TOPK_METHODS))
def test_callable_targets_equal_class_targets(method: str) -> None:
    model = tiny()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(13))
    methods = {method: TOPK_METHODS[method]}
    kind = "attributions" if method == "occlusion" else "layer_maps"
    by_class = explain(model, x, methods, 3)
    by_function = explain(model, x, methods, lambda out: out[:, 3])
    torch.testing.assert_close(getattr(by_function, kind)[method], getattr(by_class, kind)[method])
    two = explain(model, x, methods, lambda out: out[:, [3, 1]])
    listed = explain(model, x, methods, [[3, 1], [3, 1]])
    torch.testing.assert_close(getattr(two, kind)[method], getattr(listed, kind)[method])


# ---------------------------------------------------------------- the model as found


@pytest.mark.parametrize("method", list(TOPK_METHODS))
def test_model_unchanged_after_each_method(method: str) -> None:
    model = dirty(tiny())
    before = snapshot(model)
    grad = list(model.parameters())[-1].grad.clone()
    res = explain(model, torch.randn(2, 3, 16, 16), {method: TOPK_METHODS[method]}, "top2")
    assert method in res.maps
    assert snapshot(model) == before
    assert torch.equal(list(model.parameters())[-1].grad, grad)
    assert model.features[1].inplace is True


@pytest.mark.parametrize(
    ("method", "fallback"),
    [
        ("scorecam", False),
        ("ablationcam", False),
        ("ablationcam", True),  # whole forwards with a hook replacing the layer's output
        ("occlusion", False),
    ],
)
def test_model_unchanged_after_a_target_that_fails_in_the_perturbation_forwards(
    method: str, fallback: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callable target is called again on the copies' outputs; it fails on its second call."""
    if fallback:
        monkeypatch.setattr("seewhy.engine.runner.layer_tail", lambda *args: None)
    model = dirty(tiny())
    before = snapshot(model)
    seen: list[int] = []

    def target(output: torch.Tensor) -> torch.Tensor:
        seen.append(output.shape[0])
        if len(seen) == 2:
            raise RuntimeError("boom in the second call")
        return output[:, 3]

    with pytest.raises(RuntimeError, match="boom in the second call"):
        explain(model, torch.randn(2, 3, 16, 16), {method: TOPK_METHODS[method]}, target)
    assert seen[0] == 2 and len(seen) == 2
    assert snapshot(model) == before
    assert before["hooks"] == 0
