"""BatchNorm folding (engine/fold.py) in the engine's passes."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from helpers.models import close, count_folds, resnet18, snapshot, with_statistics
from timm.layers import BatchNormAct2d, Conv2dSame
from torch import nn

import seewhy
from seewhy.engine import passes
from seewhy.engine.fold import conv_norm_pairs, fold_batchnorm
from seewhy.engine.guard import preserved

X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def folded_output(model: nn.Module, x: torch.Tensor, keep: tuple[str, ...] = ()) -> tuple:
    """(output with the folds, number of patches); the patches are removed after."""
    with preserved(model) as handles, torch.no_grad():
        patches = fold_batchnorm(model, keep)
        handles.extend(patches)
        return model(x), len(patches)


def plain_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with preserved(model), torch.no_grad():
        return model(x)


class ConvBnAct(nn.Module):
    """timm-style: same-padding conv, then BatchNormAct2d (BN, drop, ReLU6)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = Conv2dSame(3, 8, 3, stride=2, bias=False)
        self.bn = BatchNormAct2d(8, act_layer=nn.ReLU6)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


class SharedOutput(nn.Module):
    """The conv's output goes to the BatchNorm and to a skip: folding would change the skip."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return (self.bn(y) + y).mean((2, 3))


class StandardizedConv(nn.Conv2d):
    """Weight standardization: the forward transforms ``self.weight``; not foldable."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return self._conv_forward(x, w, self.bias)


class DataDependent(nn.Module):
    """Python control flow on a tensor value: torch.fx can't trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return y.mean((2, 3)) if float(y.mean()) > -1e9 else y.sum((2, 3))


def test_resnet18_pairs_are_every_conv_and_its_batchnorm() -> None:
    pairs = conv_norm_pairs(resnet18())
    assert len(pairs) == 20  # stem + 2 per basic block x 8 + 3 downsamples
    assert ("conv1", "bn1") in pairs
    assert ("layer1.0.conv2", "layer1.0.bn2") in pairs
    assert ("layer2.0.downsample.0", "layer2.0.downsample.1") in pairs


def test_folded_resnet_computes_the_same_function_and_is_restored() -> None:
    model = with_statistics(resnet18())
    before = snapshot(model)
    output, patches = folded_output(model, X)
    assert patches == 40  # a conv and a BatchNorm per pair
    close(output, plain_output(model, X))
    assert snapshot(model) == before
    assert not any("forward" in vars(m) for m in model.modules())


def test_timm_same_padding_conv_and_batchnorm_act_fold() -> None:
    model = with_statistics(ConvBnAct())
    assert conv_norm_pairs(model) == [("conv", "bn")]
    output, patches = folded_output(model, X)
    assert patches == 2
    close(output, plain_output(model, X))


def test_keep_leaves_the_chosen_layers_pairs_alone() -> None:
    model = with_statistics(resnet18())
    _, patches = folded_output(model, X, keep=("layer1.0.bn1", "conv1"))
    assert patches == 36


@pytest.mark.parametrize(
    "model",
    [SharedOutput(), DataDependent()],
    ids=["output-used-twice", "untraceable"],
)
def test_unsafe_or_untraceable_models_fold_nothing(model: nn.Module) -> None:
    assert conv_norm_pairs(model) == []
    output, patches = folded_output(with_statistics(model), X)
    assert patches == 0


def test_weight_transforming_convs_are_not_folded() -> None:
    model = nn.Sequential(StandardizedConv(3, 4, 3), nn.BatchNorm2d(4))
    assert conv_norm_pairs(model) == []


def test_training_mode_missing_statistics_and_hooks_prevent_folding() -> None:
    model = with_statistics(resnet18())
    with preserved(model, eval_mode=False) as handles:
        model.train()
        handles.extend(fold_batchnorm(model))
        assert not handles  # BatchNorms in training mode normalize with batch statistics
    model.eval()
    handle = model.layer1[0].conv1.register_forward_hook(lambda *_: None)
    try:
        _, patches = folded_output(model, X)
        assert patches == 38  # the watched conv keeps its own output
    finally:
        handle.remove()
    stateless = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    assert folded_output(stateless.eval(), X)[1] == 0


def test_folded_weights_follow_edits_and_swapped_modules() -> None:
    model = with_statistics(resnet18())
    folded_output(model, X)  # caches the folds
    with torch.no_grad():
        model.bn1.running_var.mul_(4.0)
        model.layer1[0].conv1.weight.mul_(-1.0)
    close(folded_output(model, X)[0], plain_output(model, X))
    model.layer1[0].bn2 = with_statistics(nn.BatchNorm2d(64), seed=5)
    close(folded_output(model, X)[0], plain_output(model, X))
    model.load_state_dict(with_statistics(resnet18(seed=3), seed=3).state_dict())
    close(folded_output(model, X)[0], plain_output(model, X))


def test_folded_convs_follow_in_place_changes_to_eps_stride_and_padding() -> None:
    model = with_statistics(resnet18())
    folded_output(model, X)  # caches the folds
    model.bn1.eps = 0.5
    model.conv1.padding = (1, 1)
    model.conv1.stride = (1, 1)
    close(folded_output(model, X)[0], plain_output(model, X))


def test_the_cache_does_not_keep_a_model_alive() -> None:
    model = with_statistics(resnet18())
    seewhy.Explainer(model, layer="layer4").explain(X[:1], ["saliency"], "top1")
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_fast_and_exact_gradients_agree_on_a_batchnorm_network(monkeypatch) -> None:
    model = with_statistics(resnet18())
    methods = ["saliency", "gradient", "guided_gradcam", "gradcam"]
    folded = count_folds(monkeypatch, passes)
    fast = seewhy.Explainer(model, layer="layer4").explain(X, methods, "top2")
    # The one pass of a fresh model folds all 20 pairs (the trace is made before the
    # engine's own layer hooks go on).
    assert folded == [40]
    exact = seewhy.Explainer(model, layer="layer4", fast=False).explain(X, methods, "top2")
    assert torch.equal(fast.targets, exact.targets)
    for name in methods:
        close(fast.maps[name], exact.maps[name], rtol=1e-4)
    assert fast.attributions["gradient"].is_contiguous()


def test_the_cam_pass_folds_all_but_the_chosen_layers_pair(monkeypatch) -> None:
    model = with_statistics(resnet18(seed=4))
    methods = ["gradcam", "gradcam++", "hirescam", "layercam", "eigencam"]
    folded = count_folds(monkeypatch, passes)
    layer = "layer4.1.conv2"  # a conv with its BatchNorm after it: that pair stays
    fast = seewhy.Explainer(model, layer=layer).explain(X, methods, "top2")
    assert folded == [38]
    folded.clear()
    exact = seewhy.Explainer(model, layer=layer, fast=False).explain(X, methods, "top2")
    assert not folded
    assert torch.equal(fast.targets, exact.targets)
    for name in methods:
        close(fast.layer_maps[name], exact.layer_maps[name], rtol=1e-4)
        assert fast.layer_maps[name].is_contiguous()


def test_the_users_hooks_never_see_the_symbolic_trace() -> None:
    model = with_statistics(resnet18(seed=7))
    seen: list[type] = []
    handle = model.layer1.register_forward_hook(lambda _m, _i, out: seen.append(type(out)))
    try:
        _, patches = folded_output(model, X)
        assert patches == 0  # not traced while hooked
        seewhy.Explainer(model, layer="layer4").explain(X[:1], ["saliency"], "top1")
    finally:
        handle.remove()
    assert seen and all(t is torch.Tensor for t in seen)
    assert folded_output(model, X)[1] == 40  # traced once the hook is gone


def test_perturbation_forwards_fold_too(monkeypatch) -> None:
    model = with_statistics(resnet18(seed=2))
    folded = count_folds(monkeypatch, passes)
    methods = {"occlusion": {"window": 32, "stride": 32}, "scorecam": {}}
    x = X[:1]
    fast = seewhy.Explainer(model, layer="layer4").explain(x, methods, "top2")
    assert folded and all(count == 40 for count in folded)
    folded.clear()
    exact = seewhy.Explainer(model, layer="layer4", fast=False).explain(x, methods, "top2")
    assert not folded
    for name in methods:
        close(fast.maps[name], exact.maps[name], rtol=1e-4)
