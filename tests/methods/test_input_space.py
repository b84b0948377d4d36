"""Input-space methods: agreement with Captum, values worked out by hand, identities, options.

Captum runs on the same model, input and targets, one call per target rank, and is compared
with ``res.attributions`` (B, T, C, H, W). Measured agreement (max abs difference relative to
the reference's peak): 0 (bit for bit) for Saliency, InputXGradient, GuidedBackprop,
Deconvolution and NoiseTunnel SmoothGrad / SmoothGrad^2 / VarGrad; <= 4e-7 for GuidedGradCam
(bilinear) and IntegratedGradients (the bilinear upsampling and the quadrature sums are
done in another order). The tolerance leaves two orders of magnitude of headroom.

Architectures: torchvision ResNet-18 (residual, ``ReLU(inplace=True)`` modules reused twice
per block) and VGG-11 (plain, every ReLU in place, ReLUs in the classifier head), random
weights under a fixed seed, 64 px, two images, top-2 targets.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)
from helpers.models import TinyGapNet, TwoLayerReLU, close, resnet18, vgg11

import seewhy
from seewhy.methods.integrated_gradients import quadrature

# close() (helpers) allows 1e-5 of the reference's peak; measured here: <= 4e-7.
SIZE = 64
SAMPLES = 6  # SmoothGrad copies per image
IG_STEPS = 16
ARCHS = {"resnet18": (resnet18, "layer4"), "vgg11": (vgg11, "features.18")}


@pytest.fixture(scope="module", params=list(ARCHS))
def case(request) -> dict:
    build, layer = ARCHS[request.param]
    model = build()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, SIZE, SIZE, generator=generator)
    noise = 0.2 * torch.randn(2, SAMPLES, 3, SIZE, SIZE, generator=generator)
    smooth = {"n": SAMPLES, "noise_tensors": noise}
    methods = {
        "saliency": {},
        "input_x_gradient": {},
        "guided_backprop": {},
        "deconvnet": {},
        "guided_gradcam": {},
        "integrated_gradients": {"steps": IG_STEPS},
        "smoothgrad": smooth,
        "smoothgrad_sq": smooth,
        "vargrad": smooth,
    }
    # fast=False runs the model as given, as Captum does: the same operations in the same
    # order, so the results agree to rounding. The default fast path is checked below.
    res = seewhy.Explainer(model, layer=layer, fast=False).explain(x, methods, "top2")
    fast = seewhy.Explainer(model, layer=layer).explain(x, methods, "top2")
    return {"model": model, "layer": layer, "x": x, "noise": noise, "res": res, "fast": fast}


def captum(case: dict, method: str, target: list[int], monkeypatch) -> torch.Tensor:
    model, x = case["model"], case["x"]
    layer = dict(model.named_modules())[case["layer"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns that it sets hooks on ReLUs
        if method == "saliency":
            return Saliency(model).attribute(x, target=target, abs=True)
        if method == "input_x_gradient":
            return InputXGradient(model).attribute(x, target=target)
        if method == "guided_backprop":
            return GuidedBackprop(model).attribute(x, target=target)
        if method == "deconvnet":
            return Deconvolution(model).attribute(x, target=target)
        if method == "guided_gradcam":
            explainer = GuidedGradCam(model, layer)
            return explainer.attribute(x, target=target, interpolate_mode="bilinear")
        if method == "integrated_gradients":
            return IntegratedGradients(model).attribute(
                x, target=target, n_steps=IG_STEPS, method="gausslegendre"
            )
        # NoiseTunnel draws its noise with torch.normal(0, stdevs) of shape (B * n, C, H, W),
        # copies image-major: hand it the same tensors as seewhy's noise_tensors.
        noise = case["noise"].reshape(-1, *x.shape[1:])
        monkeypatch.setattr(torch, "normal", lambda mean, std: noise.clone())
        return NoiseTunnel(Saliency(model)).attribute(
            x,
            nt_type=method,
            nt_samples=SAMPLES,
            nt_samples_batch_size=SAMPLES,
            stdevs=0.2,
            target=target,
        )


CAPTUM_METHODS = [
    "saliency",
    "input_x_gradient",
    "guided_backprop",
    "deconvnet",
    "guided_gradcam",
    "integrated_gradients",
    "smoothgrad",
    "smoothgrad_sq",
    "vargrad",
]


@pytest.mark.parametrize("method", CAPTUM_METHODS)
def test_agrees_with_captum(case, method, monkeypatch) -> None:
    res = case["res"]
    for rank in range(2):
        reference = captum(case, method, res.targets[:, rank].tolist(), monkeypatch)
        close(res.attributions[method][:, rank], reference)


@pytest.mark.parametrize("method", CAPTUM_METHODS)
def test_fast_path_agrees_with_captum(case, method, monkeypatch) -> None:
    """The default path (BatchNorms folded, channels-last) rounds differently from Captum.

    Its float32 rounding error is about 1.5e-6 of the peak where Captum's is 0.5e-6, and
    where a ReLU's input lies within that of 0 the mask flips, changing a patch of the
    gradient by up to ~2e-2 of its peak. Captum flips too, on other inputs: against float64
    on VGG-11, Captum's saliency has 6% of its values more than 1e-4 of the peak off, and
    seewhy's fast SmoothGrad up to 4% (measured). So: 90% of the values within 1e-4 of the
    peak of Captum's and a cosine similarity of at least 0.9999; the fold itself is checked
    exactly in tests/engine/test_fold.py.
    """
    fast = case["fast"]
    assert torch.equal(fast.targets, case["res"].targets)
    for rank in range(2):
        target = fast.targets[:, rank].tolist()
        reference = captum(case, method, target, monkeypatch).detach().flatten()
        ours = fast.attributions[method][:, rank].flatten()
        peak = float(reference.abs().max())
        within = float(((ours - reference).abs() <= 1e-4 * peak).double().mean())
        assert within >= 0.9, within
        assert float(torch.nn.functional.cosine_similarity(ours, reference, dim=0)) >= 0.9999


def test_integrated_gradients_delta_agrees_with_captum(case) -> None:
    res = case["res"]
    for rank in range(2):
        _, delta = IntegratedGradients(case["model"]).attribute(
            case["x"],
            target=res.targets[:, rank].tolist(),
            n_steps=IG_STEPS,
            return_convergence_delta=True,
        )
        torch.testing.assert_close(
            res.deltas["integrated_gradients"][:, rank], delta, atol=2e-6, rtol=0
        )


def test_riemann_trapezoid_and_tensor_baseline_agree_with_captum() -> None:
    model = resnet18()
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    baseline = torch.full((3, SIZE, SIZE), 0.5)
    options = {"steps": 10, "rule": "riemann_trapezoid", "baseline": baseline}
    res = seewhy.Explainer(model, fast=False).explain(x, {"integrated_gradients": options}, 7)
    reference = IntegratedGradients(model).attribute(
        x, baselines=baseline[None], target=7, n_steps=10, method="riemann_trapezoid"
    )
    close(res.attributions["integrated_gradients"][:, 0], reference)


def test_guided_gradcam_at_a_relu_layer_agrees_with_captum() -> None:
    """The chosen layer is itself a ReLU: its output is still the CAM's root."""
    model = vgg11()
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    ex = seewhy.Explainer(model, layer="features.19", fast=False)
    res = ex.explain(x, ["guided_gradcam", "gradcam"], 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = GuidedGradCam(model, model.features[19]).attribute(
            x, target=3, interpolate_mode="bilinear"
        )
    close(res.attributions["guided_gradcam"][:, 0], reference)
    assert res.layer_maps["gradcam"].abs().sum() > 0


# --------------------------------------------------------------------------- by hand


def test_guided_backprop_and_deconvnet_by_hand() -> None:
    """x = [1, 2, 3]: hidden pre-activations z = W1 x = [4, -1, 3], so unit 1 is off.

    Target 0 sends ``g = W2[0] = [2, 3, -1]`` to the hidden units, and ``dS/dx = W1^T r``:

    - backprop: ``r = g * [z > 0] = [2, 0, -1]`` -> ``[1, -1, 2]``
    - guided: ``r = g * [z > 0] * [g > 0] = [2, 0, 0]`` -> ``[2, 0, 2]``
    - deconvnet: ``r = g * [g > 0] = [2, 3, 0]`` -> ``[2, 3, -1]``
    """
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    methods = ["gradient", "guided_backprop", "deconvnet"]
    res = seewhy.Explainer(TwoLayerReLU()).explain(x, methods, 0)
    expected = {"gradient": [1, -1, 2], "guided_backprop": [2, 0, 2], "deconvnet": [2, 3, -1]}
    for method, values in expected.items():
        got = res.attributions[method].flatten().tolist()
        assert got == [float(v) for v in values], method
    assert res.maps["guided_backprop"].flatten().tolist() == [2.0]  # max |.| over channels
    assert res.maps["gradient"].flatten().tolist() == [2.0]  # sum over channels: 1 - 1 + 2
    assert res.maps["deconvnet"].flatten().tolist() == [3.0]


def test_functional_relu_follows_the_rules_as_its_module_does() -> None:
    """``F.relu`` is no module (Captum leaves it alone); the engine rules it all the same
    (every functional form: tests/engine/test_ruled_calls.py)."""
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    methods = ["guided_backprop", "deconvnet"]
    res = seewhy.Explainer(TwoLayerReLU(functional=True)).explain(x, methods, 0)
    assert res.attributions["guided_backprop"].flatten().tolist() == [2.0, 0.0, 2.0]
    assert res.attributions["deconvnet"].flatten().tolist() == [2.0, 3.0, -1.0]


def test_saliency_and_input_x_gradient_by_hand() -> None:
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    res = seewhy.Explainer(TwoLayerReLU()).explain(x, ["saliency", "input_x_gradient"], 0)
    assert res.attributions["saliency"].flatten().tolist() == [1.0, 1.0, 2.0]
    assert res.maps["saliency"].flatten().tolist() == [2.0]
    assert res.attributions["input_x_gradient"].flatten().tolist() == [1.0, -2.0, 6.0]
    assert res.maps["input_x_gradient"].flatten().tolist() == [5.0]  # = S(x), ReLU net, no bias


# --------------------------------------------------------------------------- integrated gradients


def test_quadrature_matches_captum() -> None:
    from captum.attr._utils.approximation_methods import approximation_parameters

    for rule in ("gausslegendre", "riemann_trapezoid"):
        sizes, alphas = approximation_parameters(rule)
        ours_alphas, ours_weights = quadrature(rule, 7)
        assert ours_alphas == alphas(7) and ours_weights == sizes(7)


@pytest.fixture(scope="module")
def curved() -> torch.nn.Module:
    """TinyGapNet with biases and larger weights: S is far from linear along the path."""
    torch.manual_seed(0)
    model = TinyGapNet(classes=5, channels=8)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3)
    return model


@pytest.mark.parametrize("baseline", ["zeros", "blur"])
def test_integrated_gradients_completeness(curved, baseline) -> None:
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    ex = seewhy.Explainer(curved)
    res = ex.explain(x, {"integrated_gradients": {"baseline": baseline}}, "top2")
    from seewhy.methods.integrated_gradients import make_baseline

    with torch.no_grad():
        start = curved(make_baseline(x, baseline)).gather(1, res.targets)
    difference = res.scores - start
    total = res.attributions["integrated_gradients"].flatten(2).sum(dim=2)
    delta = res.deltas["integrated_gradients"]
    torch.testing.assert_close(total - difference, delta, atol=1e-5, rtol=0)
    assert (delta.abs() <= 0.01 * difference.abs()).all()  # 50 Gauss-Legendre steps
    coarse = ex.explain(x, {"integrated_gradients": {"steps": 3, "baseline": baseline}}, "top2")
    assert coarse.deltas["integrated_gradients"].abs().mean() > delta.abs().mean()


# --------------------------------------------------------------------------- targets, seeds


ALL = {
    "saliency": {},
    "gradient": {},
    "input_x_gradient": {},
    "guided_backprop": {},
    "deconvnet": {},
    "guided_gradcam": {},
    "deconv_gradcam": {"cam": "gradcam++"},
    "smoothgrad": {"n": 3, "seed": 1},
    "smoothgrad_sq": {"n": 3, "seed": 1},
    "vargrad": {"n": 3, "seed": 1, "batch_size": 2},
    "integrated_gradients": {"steps": 4, "batch_size": 3},
    "smooth:gradcam++": {"n": 3, "seed": 2},
    "smooth:guided_backprop": {"n": 2, "seed": 2},
}


def test_top2_in_one_call_equals_two_single_calls() -> None:
    """Input-space methods, so the ``capture_inputs`` pass, the CAMs in it included. CAM-only
    requests take the head-only ``capture``: see ``test_top5_in_one_pass_equals_five_single_runs``
    in ``tests/engine/test_capture.py``."""
    model = resnet18()
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(6))
    ex = seewhy.Explainer(model, layer="layer4")
    top2 = ex.explain(x, ALL, "top2")
    assert set(top2.maps) == set(ALL)
    for rank in range(2):
        single = ex.explain(x, ALL, [[c] for c in top2.targets[:, rank].tolist()])
        for method in ALL:
            torch.testing.assert_close(
                top2.maps[method][:, rank], single.maps[method][:, 0], rtol=1e-4, atol=1e-7
            )
            if method in top2.attributions:
                torch.testing.assert_close(
                    top2.attributions[method][:, rank],
                    single.attributions[method][:, 0],
                    rtol=1e-4,
                    atol=1e-7,
                )
        torch.testing.assert_close(
            top2.deltas["integrated_gradients"][:, rank],
            single.deltas["integrated_gradients"][:, 0],
            rtol=0,
            atol=1e-6,
        )


def test_smoothgrad_seed_and_batch_size(curved) -> None:
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    ex = seewhy.Explainer(curved)

    def run(**options: object) -> torch.Tensor:
        return ex.explain(x, {"smoothgrad": {"n": 8, **options}}, "top1").attributions["smoothgrad"]

    first = run(seed=1)
    assert torch.equal(first, run(seed=1))
    assert not torch.allclose(first, run(seed=2))
    torch.testing.assert_close(first, run(seed=1, batch_size=3))  # chunking draws the same noise
    torch.testing.assert_close(first, run(seed=1, batch_size=1))
    # an image's noise is its own: alone, or after another image, it gets the same map
    alone = ex.explain(x[1:], {"smoothgrad": {"n": 8, "seed": 1}}, "top1")
    torch.testing.assert_close(first[1:], alone.attributions["smoothgrad"])
    swapped = ex.explain(x.flip(0), {"smoothgrad": {"n": 8, "seed": 1}}, "top1")
    torch.testing.assert_close(first.flip(0), swapped.attributions["smoothgrad"])
    assert not torch.allclose(first, run(seed=1, noise=0.0))


def test_smoothgrad_noise_scales_with_the_input_range(curved) -> None:
    """sigma = noise * (max - min) per image: scaling an image's range scales its noise."""
    from seewhy.methods.noise import NoiseSource

    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(8))
    x[1] *= 10
    source = NoiseSource(x, n=400, noise=0.1, seed=0)
    rows, noisy = source.take(0, source.total)
    spread = (noisy - x[rows]).reshape(2, 400, -1).std(dim=(1, 2))
    ranges = x.reshape(2, -1).amax(1) - x.reshape(2, -1).amin(1)
    torch.testing.assert_close(spread, 0.1 * ranges, rtol=0.05, atol=0)


def test_smooth_wrapper_averages_the_inner_method(curved) -> None:
    """smooth:saliency with the same noise is smoothgrad; smooth:gradcam++ is the mean map."""
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    noise = 0.3 * torch.randn(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(10))
    ex = seewhy.Explainer(curved, layer="features")
    options = {"n": 4, "noise_tensors": noise}
    res = ex.explain(
        x, {"smooth:saliency": options, "smoothgrad": options, "smooth:gradcam++": options}, 2
    )
    torch.testing.assert_close(res.attributions["smooth:saliency"], res.attributions["smoothgrad"])
    copies = ex.explain(x + noise[0], ["gradcam++"], 2)
    torch.testing.assert_close(
        res.layer_maps["smooth:gradcam++"][0], copies.layer_maps["gradcam++"].mean(dim=0)
    )
    assert res.displays["smooth:gradcam++"] == "cam" and res.displays["smooth:saliency"] == "abs"


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ({"integrated_gradients": {"rule": "simpson"}}, "gausslegendre, riemann_trapezoid"),
        ({"integrated_gradients": {"baseline": "noise"}}, "zeros, blur or a tensor"),
        ({"smoothgrad": {"n": 0}}, "n must be a positive int"),
        ({"guided_gradcam": {"cam": "saliency"}}, "Allowed: ablationcam, cam, "),
        ({"guided_gradcam": {"cam": "gradcamm"}}, "Did you mean 'gradcam'"),
        ({"saliency": {"abs": False}}, "Allowed options: none"),
        ({"smooth:gradcam": {"relu": False, "bogus": 1}}, "Allowed options: relu"),
        (["smooth:gradcamm"], "unknown method 'gradcamm'"),
    ],
)
def test_bad_options_are_method_errors(curved, methods, message) -> None:
    ex = seewhy.Explainer(curved, layer="features")
    with pytest.raises(seewhy.MethodError, match=message):
        ex.explain(torch.zeros(1, 3, 16, 16), methods)
