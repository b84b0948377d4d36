"""The plan of a call: what the capture pass must meet, how outputs are keyed, and what it
imports (no method module by name: methods say what they need in their registration)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.models import TinyGapNet, resnet18

import seewhy
from seewhy.engine.runner import Runner
from seewhy.engine.targets import Objective
from seewhy.errors import MethodRefusal
from seewhy.explain.plan import Plan, method_key
from seewhy.methods import CamInputs, registry
from seewhy.methods.registry import get_method, normalize_methods

PLAN = Path(seewhy.__file__).parent / "explain" / "plan.py"


def test_cam_specs_add_the_companion_cam_a_registration_declares() -> None:
    request = normalize_methods({"guided_gradcam": {"cam": "gradcam++"}, "saliency": {}})
    names = [spec.name for spec in Plan(request, ["layer4"]).cam_specs()]
    assert names == ["guided_gradcam", "gradcam++"]
    request = normalize_methods(["cam", "deconv_gradcam", "occlusion"])
    names = [spec.name for spec in Plan(request, ["layer4"]).cam_specs()]
    assert names == ["cam", "deconv_gradcam", "gradcam"]  # the registered default companion
    assert get_method("guided_gradcam").companion == "cam"


def test_needs_layers_follows_the_methods_and_the_smoothed_ones() -> None:
    assert Plan.needs_layers({"gradcam": {}})
    assert Plan.needs_layers({"smooth:guided_gradcam": {}})
    assert not Plan.needs_layers({"saliency": {}, "smooth:saliency": {}, "occlusion": {}})


def test_run_keys_outputs_per_layer_and_smooth_keys_follow_the_inner_ones() -> None:
    torch.manual_seed(0)
    model = resnet18()
    request = normalize_methods(
        {"gradcam": {}, "saliency": {}, "smooth:guided_gradcam": {"n": 2, "seed": 0}}
    )
    plan = Plan(request, ["layer3", "layer4"])
    runner = Runner(seewhy.LoadedModel(module=model), Objective("top2"), fast=False)
    out = plan.run(runner, torch.randn(1, 3, 64, 64))
    assert out.order == [
        "gradcam@layer3",
        "gradcam@layer4",
        "saliency",
        "smooth:guided_gradcam@layer3",
        "smooth:guided_gradcam@layer4",
    ]
    assert set(out.layer_maps) == {"gradcam@layer3", "gradcam@layer4"}
    assert set(out.maps) == {
        "saliency",
        "smooth:guided_gradcam@layer3",
        "smooth:guided_gradcam@layer4",
    }
    assert out.layers == {
        "gradcam@layer3": "layer3",
        "gradcam@layer4": "layer4",
        "smooth:guided_gradcam@layer3": "layer3",
        "smooth:guided_gradcam@layer4": "layer4",
    }
    assert out.displays["smooth:guided_gradcam@layer3"] == "rgb"
    assert out.maps["smooth:guided_gradcam@layer4"].shape == (1, 2, 64, 64)
    assert method_key("gradcam", "layer4", ["layer4"]) == "gradcam"


def test_the_smooth_wrapper_averages_the_inner_method_over_the_copies() -> None:
    """smooth:<m> with noise 0 is <m> itself: every copy is the clean image."""
    torch.manual_seed(0)
    model = TinyGapNet()
    runner = Runner(seewhy.LoadedModel(module=model), Objective("top2"), fast=False)
    x = torch.randn(2, 3, 16, 16)
    request = normalize_methods({"gradcam++": {}, "smooth:gradcam++": {"n": 3, "noise": 0.0}})
    out = Plan(request, ["features"]).run(runner, x)
    torch.testing.assert_close(out.layer_maps["smooth:gradcam++"], out.layer_maps["gradcam++"])
    assert out.layer_maps["gradcam++"].abs().sum() > 0


def test_the_plan_names_no_method_module() -> None:
    tree = ast.parse(PLAN.read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    methods = {name for name in imported if name.startswith("seewhy.methods")}
    assert methods <= {"seewhy.methods", "seewhy.methods.registry", "seewhy.methods.contract"}


def test_a_method_refused_on_a_later_batch_is_dropped_and_skipped_after(monkeypatch) -> None:
    """A refusal on batch 2 drops batch 1's maps of that method and skips it on batch 3."""
    calls: list[int] = []

    def refuses_the_second_batch(inputs: CamInputs) -> torch.Tensor:
        calls.append(len(calls))
        if len(calls) == 2:
            raise MethodRefusal("not on this batch")
        return inputs.activations[:, :1].expand(-1, inputs.targets.shape[1], -1, -1)

    spec = registry._METHODS["gradcam"]
    monkeypatch.setitem(
        registry._METHODS, "gradcam", replace(spec, function=refuses_the_second_batch)
    )
    torch.manual_seed(0)
    explainer = seewhy.Explainer(TinyGapNet(), layer="features", batch_size=1)
    with pytest.warns(UserWarning, match="gradcam was not run: not on this batch"):
        res = explainer.explain(torch.randn(3, 3, 8, 8), ["gradcam", "gradcam++"])
    assert calls == [0, 1]
    assert res.refused == {"gradcam": "not on this batch"}
    assert res.methods == ["gradcam++"] and set(res.layer_maps) == {"gradcam++"}
    assert res.maps["gradcam++"].shape[0] == 3


def test_drop_forgets_every_key_of_a_method() -> None:
    torch.manual_seed(0)
    plan = Plan(normalize_methods(["gradcam", "saliency"]), ["layer3", "layer4"])
    runner = Runner(seewhy.LoadedModel(module=resnet18()), Objective("top1"), fast=False)
    out = plan.run(runner, torch.randn(1, 3, 64, 64))
    out.drop("gradcam")
    assert out.order == ["saliency"] and out.methods == {"saliency": "saliency"}
    assert out.layer_maps == {} and out.layers == {} and set(out.displays) == {"saliency"}
