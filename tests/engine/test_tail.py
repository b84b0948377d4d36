"""The network after a layer, cut out with torch.fx (``seewhy.engine.tail``).

A tail must reproduce the model's output from the captured activations and, what Ablation-CAM
relies on, from edited ones; where it can't stand alone (a skip connection around the layer,
an untraceable forward, a layer run twice) :func:`trace_tail` gives None and the engine's
fallback (whole forwards with the layer's output replaced) gives the same maps.
"""

from __future__ import annotations

import functools
import gc
import math
import weakref

import pytest
import torch
import torchvision
from helpers.models import TinyGapNet, resnet18, snapshot, vgg11
from torch import fx, nn

import seewhy
from seewhy.engine.guard import preserved
from seewhy.engine.tail import _CACHE, layer_tail, trace_tail


def captured(module: nn.Module, layer: str, x: torch.Tensor) -> tuple[torch.Tensor, object]:
    """The layer's output (cloned before any in-place op after it) and the model's output."""
    stored: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: object, output: torch.Tensor) -> None:
        stored["A"] = output.detach().clone()

    with preserved(module) as handles, torch.no_grad():
        handles.append(module.get_submodule(layer).register_forward_hook(hook))
        output = module(x)
    return stored["A"], output


def with_layer_output(module: nn.Module, layer: str, x: torch.Tensor, value: torch.Tensor):
    """The model's output with the layer's output replaced by ``value``: what a tail must give."""
    with preserved(module) as handles, torch.no_grad():
        replace = lambda _m, _i, _o: value.clone()  # noqa: E731
        handles.append(module.get_submodule(layer).register_forward_hook(replace))
        return module(x)


def edit(activations: torch.Tensor) -> torch.Tensor:
    """Every other channel zeroed and the rest scaled: far from the clean activations."""
    edited = activations.clone()
    edited[:, ::2] = 0
    edited[:, 1::2] *= 1.5
    return edited


@functools.cache
def torchvision_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "resnet18":
        return resnet18()
    if name == "vgg11":
        return vgg11()
    if name == "densenet121":
        return torchvision.models.densenet121(weights=None, num_classes=10).eval()
    raise KeyError(name)


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    yield
    torchvision_model.cache_clear()


CUTS = [
    ("resnet18", "layer4", 64),
    ("resnet18", "layer3", 64),
    ("resnet18", "layer4.0", 64),  # a block inside a container that is traced through
    ("vgg11", "features.10", 32),
    ("vgg11", "features.19", 32),  # an in-place ReLU
    ("vgg11", "features", 32),
    ("densenet121", "features.norm5", 64),  # F.relu(inplace=True) right after it
]


def assert_reproduces(module: nn.Module, layer: str, x: torch.Tensor) -> fx.GraphModule:
    before = snapshot(module)
    activations, output = captured(module, layer, x)
    tail = trace_tail(module, layer)
    assert isinstance(tail, fx.GraphModule)
    assert snapshot(module) == before
    # It shares the model's weights; nothing is copied.
    assert {id(p) for p in tail.parameters()} <= {id(p) for p in module.parameters()}
    scale = float(output.abs().max())
    with preserved(module), torch.no_grad():
        produced = tail(activations.clone())
        edited = edit(activations)
        from_edited = tail(edited.clone())
    torch.testing.assert_close(produced, output, rtol=1e-5, atol=1e-5 * scale)
    expected = with_layer_output(module, layer, x, edited)
    assert (expected - output).abs().max() > 1e-3 * scale  # the edit does change the output
    torch.testing.assert_close(from_edited, expected, rtol=1e-5, atol=1e-5 * scale)
    with preserved(module):
        assert layer_tail(module, layer, activations, output, lambda raw: raw) is not None
    assert snapshot(module) == before
    return tail


@pytest.mark.parametrize(("name", "layer", "size"), CUTS, ids=[f"{n}-{c}" for n, c, _ in CUTS])
def test_tail_reproduces_the_model_from_the_layer(name: str, layer: str, size: int) -> None:
    module = torchvision_model(name)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    if layer == "features.norm5":
        activations, _ = captured(module, layer, x)
        assert (activations < 0).any()  # the tail's in-place ReLU has work to do
    assert_reproduces(module, layer, x)


def test_tail_of_efficientnet_lite0_bn2(lite0: seewhy.LoadedModel) -> None:
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    assert_reproduces(lite0.module, "bn2", x)


def test_a_block_with_its_own_skip_connection_cannot_be_cut_inside() -> None:
    """``layer4.1.conv2``: the block adds its input (computed before the conv) after it."""
    module = torchvision_model("resnet18")
    assert trace_tail(module, "layer4.1.conv2") is None
    x = torch.randn(1, 3, 64, 64)
    activations, output = captured(module, "layer4.1.conv2", x)
    with preserved(module):
        assert layer_tail(module, "layer4.1.conv2", activations, output, lambda r: r) is None


# ---------------------------------------------------------------- models that can't be cut


class SkipNet(nn.Module):
    """stem -> body (the layer) -> + stem's output -> ReLU -> GAP -> Linear."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.stem = nn.Conv2d(3, 6, 3, padding=1, stride=2)
        self.body = nn.Conv2d(6, 6, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        return self.fc(torch.flatten(self.pool(torch.relu(self.body(s) + s)), 1))


class Branchy(TinyGapNet):
    """TinyGapNet whose forward branches on the input's values: fx can't trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            x = x * 2
        return super().forward(x)


class Twice(nn.Module):
    """The same conv module runs twice."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.block(self.block(self.stem(x))).mean(dim=(-2, -1)))


class AuxNet(TinyGapNet):
    """Returns (logits, a summary computed before ``features``): the tail can't give it."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(x), x.mean(dim=(1, 2, 3))


class DictNet(TinyGapNet):
    """Returns ``{"logits": ...}``, as Hugging Face models do."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": super().forward(x)}


@pytest.mark.parametrize(
    ("module", "layer"),
    [(SkipNet(), "body"), (Branchy(), "features"), (Twice(), "block"), (AuxNet(), "features")],
    ids=["skip-around-the-layer", "untraceable", "layer-runs-twice", "output-from-before"],
)
def test_models_that_cannot_be_cut_give_none(module: nn.Module, layer: str) -> None:
    before = snapshot(module)
    assert trace_tail(module, layer) is None
    assert snapshot(module) == before


def test_layer_tail_checks_the_numbers_every_call() -> None:
    module = TinyGapNet().eval()
    x = torch.randn(2, 3, 16, 16)
    activations, output = captured(module, "features", x)
    select = lambda raw: raw  # noqa: E731
    with preserved(module):
        tail = layer_tail(module, "features", activations, output, select)
        assert tail is not None
        assert layer_tail(module, "features", activations, output, select) is tail  # cached
        assert layer_tail(module, "features", activations, output + 0.1, select) is None
        assert layer_tail(module, "features", activations, output[:1], select) is None
        again = layer_tail(module, "features", activations, output, select)
        assert again is not None  # a failed check traces again; the new trace passes
        torch.testing.assert_close(again(activations.clone()), output)


def test_a_changed_model_is_traced_again() -> None:
    module = TinyGapNet().eval()
    x = torch.randn(2, 3, 16, 16)
    select = lambda raw: raw  # noqa: E731
    activations, output = captured(module, "features", x)
    with preserved(module):
        first = layer_tail(module, "features", activations, output, select)
    assert first is not None
    module.fc = nn.Linear(6, 5)  # the user swaps the head after the first call
    activations, output = captured(module, "features", x)
    with preserved(module):
        second = layer_tail(module, "features", activations, output, select)
    assert second is not None and second is not first
    torch.testing.assert_close(second(activations.clone()), output)
    assert first(activations.clone()).sub(output).abs().max() > 1e-3  # the old trace is stale


def test_the_cache_does_not_keep_the_model_alive() -> None:
    module = TinyGapNet().eval()
    activations, output = captured(module, "features", torch.randn(1, 3, 16, 16))
    with preserved(module):
        assert layer_tail(module, "features", activations, output, lambda r: r) is not None
    assert module in _CACHE
    ref = weakref.ref(module)
    del module
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------- through the Explainer


class Forwards:
    """A user's forward hook on the whole model, counting full forwards."""

    def __init__(self, module: nn.Module) -> None:
        self.count = 0
        self.handle = module.register_forward_hook(self)

    def __call__(self, *_args: object) -> None:
        self.count += 1


def test_ablationcam_is_the_same_with_the_tail_and_with_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = torchvision_model("resnet18")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))  # layer3: 2 x 2
    activations, _ = captured(module, "layer3", x)
    live = int(activations.flatten(2).ne(0).any(dim=2).sum())
    forwards = Forwards(module)
    before = snapshot(module)
    methods = {"ablationcam": {"batch_size": 128, "relu": False}}
    explainer = seewhy.Explainer(module, layer="layer3")

    cut = explainer.explain(x, methods, "top2", progress=False)
    assert forwards.count == 1  # the capture pass; the ablations ran through the tail
    monkeypatch.setattr("seewhy.engine.runner.layer_tail", lambda *args: None)
    forwards.count = 0
    whole = explainer.explain(x, methods, "top2", progress=False)
    assert forwards.count == 1 + math.ceil(live / 128)
    assert snapshot(module) == before  # only the user's own hook is left

    assert cut.layer_maps["ablationcam"].abs().max() > 0
    scale = float(whole.layer_maps["ablationcam"].abs().max())
    torch.testing.assert_close(
        cut.layer_maps["ablationcam"], whole.layer_maps["ablationcam"], rtol=1e-4, atol=1e-5 * scale
    )
    forwards.handle.remove()


@pytest.mark.parametrize(
    ("cls", "output", "tail_used"),
    [(DictNet, None, True), (AuxNet, lambda raw: raw[0], False)],
    ids=["dict-output", "aux-output-from-before"],
)
def test_models_with_structured_outputs(cls: type, output, tail_used: bool) -> None:
    """The tail runs where it can give the selected output; elsewhere the fallback does."""
    torch.manual_seed(5)
    plain = TinyGapNet(classes=6).eval()
    module = cls(classes=6).eval()
    module.load_state_dict(plain.state_dict())
    forwards = Forwards(module)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    methods = {"ablationcam": {"relu": False, "batch_size": 4}}
    model = seewhy.LoadedModel(module=module, output=output)
    res = seewhy.Explainer(model, layer="features").explain(x, methods, "top2", progress=False)
    expected = seewhy.Explainer(plain, layer="features").explain(x, methods, "top2", progress=False)
    assert (forwards.count == 1) is tail_used
    assert torch.equal(res.targets, expected.targets)
    torch.testing.assert_close(res.layer_maps["ablationcam"], expected.layer_maps["ablationcam"])


def test_no_trace_while_an_ancestor_of_the_layer_has_hooks() -> None:
    """The trace runs the ancestors' forwards on fx proxies: the user's hooks must not."""
    model = resnet18().eval()
    x = torch.randn(1, 3, 64, 64)
    activations, output = captured(model, "layer4.1", x)
    seen: list[type] = []
    handle = model.layer4.register_forward_hook(lambda _m, _i, out: seen.append(type(out)))
    try:
        with preserved(model):
            assert layer_tail(model, "layer4.1", activations, output, lambda raw: raw) is None
        res = seewhy.Explainer(model, layer="layer4.1").explain(x, ["ablationcam"], "top1")
        assert res.maps["ablationcam"].abs().sum() > 0
    finally:
        handle.remove()
    assert seen and all(t is torch.Tensor for t in seen)
    with preserved(model):
        assert layer_tail(model, "layer4.1", activations, output, lambda raw: raw) is not None
