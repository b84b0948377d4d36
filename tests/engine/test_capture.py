"""One forward pass serves every target: equalities with single-target runs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers.engine import capture
from helpers.models import TinyGapNet, resnet18

import seewhy
from seewhy.engine.capture import batched_grad, target_gradients
from seewhy.engine.targets import Classes
from seewhy.models import LoadedModel

METHODS = ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "cam"]


@pytest.fixture(scope="module")
def explainer() -> seewhy.Explainer:
    return seewhy.Explainer(resnet18(), layer="layer4")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 3, 96, 96)


def test_top5_in_one_pass_equals_five_single_runs(explainer, images) -> None:
    """CAM methods only, so the head-only ``capture`` pass. Input-space methods take
    ``capture_inputs``: see ``test_top2_in_one_call_equals_two_single_calls`` in
    ``tests/methods/test_input_space.py``."""
    top5 = explainer.explain(images, METHODS, "top5")
    for rank in range(5):
        classes = top5.targets[:, rank].tolist()
        single = explainer.explain(images, METHODS, [[c] for c in classes])
        for method in METHODS:
            torch.testing.assert_close(
                top5.layer_maps[method][:, rank],
                single.layer_maps[method][:, 0],
                rtol=1e-4,
                atol=1e-6,
            )
            torch.testing.assert_close(
                top5.maps[method][:, rank], single.maps[method][:, 0], rtol=1e-4, atol=1e-6
            )


def test_mixed_targets_in_a_batch_equal_per_image_runs(explainer, images) -> None:
    mixed = explainer.explain(images, METHODS, [[3, 7], [500, 2]])
    for b, classes in enumerate([[3, 7], [500, 2]]):
        alone = explainer.explain(images[b : b + 1], METHODS, Classes(classes))
        assert mixed.targets[b].tolist() == classes
        for method in METHODS:
            torch.testing.assert_close(
                mixed.layer_maps[method][b], alone.layer_maps[method][0], rtol=1e-4, atol=1e-6
            )


def test_counterfactual_equals_negated_gradients(explainer, images) -> None:
    plain = explainer.explain(images, {"gradcam": {"relu": False}}, 9)
    counter = explainer.explain(images, ["gradcam"], 9, counterfactual=True)
    torch.testing.assert_close(
        counter.layer_maps["gradcam"], torch.relu(-plain.layer_maps["gradcam"])
    )
    assert counter.layer_maps["gradcam"].abs().sum() > 0


def test_batched_vjp_equals_loop_of_backward_passes() -> None:
    torch.manual_seed(0)
    root = torch.randn(3, 4, requires_grad=True)
    weight = torch.randn(4, 5)
    objective = torch.tanh(root @ weight)
    batched = target_gradients(objective, [root])[0]
    for t in range(5):
        (expected,) = torch.autograd.grad(objective[:, t].sum(), root, retain_graph=True)
        torch.testing.assert_close(batched[:, t], expected)


def test_batched_grad_equals_torch_autograd_grad() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    objective = (x @ torch.randn(4, 5)) * y.sum(1, keepdim=True)
    basis = torch.eye(5).unsqueeze(1).expand(5, 3, 5)
    ours = batched_grad(objective, [x, y], basis)
    public = torch.autograd.grad(
        objective, [x, y], grad_outputs=basis, is_grads_batched=True, retain_graph=True
    )
    for a, b in zip(ours, public, strict=True):
        assert torch.equal(a, b)
    unused = torch.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        batched_grad(objective, [x, unused], basis)


def test_an_explanation_does_not_import_sympy() -> None:
    """torch.autograd.grad's check of grad_outputs imports sympy (0.6 s) on first use."""
    import subprocess
    import sys

    code = (
        "import sys, seewhy; "
        "e = seewhy.Explainer(seewhy.load_model('efficientnet_lite0', weights='random')); "
        "e.explain(seewhy.data.example_image(), ['gradcam', 'gradcam++'], 'top3', "
        "progress=False); print('sympy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_gradients_only_flow_through_the_head() -> None:
    """The layer's output is a leaf: nothing before it is in the graph."""
    model = TinyGapNet()
    lm = LoadedModel(model, "tiny")
    seen: list[bool] = []
    model.features[0].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    captured = capture(lm, torch.randn(2, 3, 8, 8), ["features"], "top1")
    assert seen == [False]
    # The GAP + Linear head's gradient is w_c / Z at every position.
    weight = model.fc.weight.detach()
    classes = captured.targets.indices[:, 0]
    expected = weight[classes][:, :, None, None].expand(-1, -1, 4, 4) / 16
    torch.testing.assert_close(captured.gradients["features"][:, 0], expected)
    model._forward_hooks.clear()
    model.features[0]._forward_hooks.clear()


def test_layer_changed_in_place_downstream_works() -> None:
    """DenseNet applies F.relu(inplace=True) to norm5's output; the captured map is norm5's."""
    torch.manual_seed(0)
    model = torchvision.models.densenet121(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    outputs: list[torch.Tensor] = []
    handle = model.features.norm5.register_forward_hook(lambda m, i, o: outputs.append(o.clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    captured = capture(LoadedModel(model, "densenet"), x, ["features.norm5"], "top1")
    torch.testing.assert_close(captured.activations["features.norm5"], outputs[0])
    assert (captured.activations["features.norm5"] < 0).any()  # taken before the in-place ReLU
    assert captured.gradients["features.norm5"].abs().sum() > 0


def test_callable_target_equals_class_target(explainer, images) -> None:
    by_class = explainer.explain(images, ["gradcam"], 42)
    by_function = explainer.explain(images, ["gradcam"], lambda out: out[:, 42])
    torch.testing.assert_close(by_function.layer_maps["gradcam"], by_class.layer_maps["gradcam"])
    assert by_function.targets.tolist() == [[-1], [-1]]
    assert torch.isnan(by_function.probs).all()


def test_logprob_score_matches_manual_gradient(images) -> None:
    model = TinyGapNet(classes=4)
    captured = capture(
        LoadedModel(model, "tiny"), images[:, :, :8, :8], ["features"], 2, score="logprob"
    )
    acts = captured.activations["features"].clone().requires_grad_(True)
    logits = model.fc(acts.mean(dim=(2, 3)))
    (expected,) = torch.autograd.grad(torch.log_softmax(logits, 1)[:, 2].sum(), acts)
    torch.testing.assert_close(captured.gradients["features"][:, 0], expected)


def test_several_layers_at_once() -> None:
    model = resnet18()
    x = torch.randn(1, 3, 64, 64)
    both = seewhy.Explainer(model, layer=["layer3", "layer4"]).explain(x, ["gradcam"], 5)
    assert set(both.maps) == {"gradcam"} and both.layers["gradcam"] == ["layer3", "layer4"]
    only3 = seewhy.Explainer(model, layer="layer3").explain(x, ["gradcam"], 5)
    torch.testing.assert_close(both.layer_maps["gradcam@layer3"], only3.layer_maps["gradcam"])
    assert both.layer_maps["gradcam@layer3"].shape[-1] == 4
    assert both.layer_maps["gradcam@layer4"].shape[-1] == 2
