"""``seewhy.metrics.sanity_check``: which layers each step randomises, the model left alone,
and the published verdict on the bundled EfficientNet-Lite0."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.models import dirty, snapshot
from torch import nn

import seewhy.metrics.sanity as sanity_module
from seewhy.errors import ImageError, LayerError, OptionError
from seewhy.explain import Explainer
from seewhy.metrics import sanity_check
from seewhy.metrics.sanity import DRAWS, METRICS


class Tiny(nn.Module):
    """conv + BN -> ReLU -> conv -> ReLU -> GAP -> Linear, on 48 x 48 images."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.stage = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.1, 0.1)
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.uniform_(0.5, 2.0)
            self.bn.bias.uniform_(-0.1, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stage(self.bn(self.conv(x)))).flatten(1))


STEPS = {"fc": ["fc.weight", "fc.bias"], "stage.1": ["stage.1.weight", "stage.1.bias"]}
STEPS["conv+bn"] = ["conv.weight", "conv.bias", "bn.weight", "bn.bias"]


def images() -> torch.Tensor:
    return torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Each explain call of the sanity check: its model's parameters and targets."""
    seen: list[dict] = []

    class Recording(Explainer):
        def explain(self, batch, methods, targets, **options):  # type: ignore[override]
            params = {k: v.detach().clone() for k, v in self.model.module.state_dict().items()}
            seen.append({"state": params, "targets": targets, "module": self.model.module})
            return super().explain(batch, methods, targets, **options)

    monkeypatch.setattr(sanity_module, "Explainer", Recording)
    return seen


def changed(state: dict, trained: dict) -> set[str]:
    return {k for k, v in state.items() if not torch.equal(v, trained[k])}


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_each_step_changes_exactly_its_layers(calls: list[dict], mode: str) -> None:
    model = Tiny()
    result = sanity_check(model, images(), ["gradcam", "gradient"], mode)
    assert result.steps == ["trained", "fc", "stage.1", "conv+bn"]
    reference, copy, *randomised = calls
    assert reference["module"] is model and copy["module"] is not model
    trained = reference["state"]
    assert changed(copy["state"], trained) == set()
    expected: set[str] = set()
    for step, call in zip(["fc", "stage.1", "conv+bn"], randomised):
        expected = (expected if mode == "cascading" else set()) | set(STEPS[step])
        assert changed(call["state"], trained) == expected, step
        assert call["state"]["bn.running_mean"].equal(trained["bn.running_mean"])
    # one target per image, the trained model's top-1, at every step
    top1 = model(images()).argmax(1).tolist()
    assert reference["targets"] == "top1"
    assert all(call["targets"] == top1 for call in calls[1:])
    assert result.targets.tolist() == top1


def test_the_unrandomised_copy_scores_one_and_the_model_is_left_as_found() -> None:
    model = dirty(Tiny())
    before = snapshot(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = sanity_check(model, images(), ["gradcam", "gradient", "guided_backprop"])
    assert snapshot(model) == before
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    for method in result.methods:
        for metric in METRICS:
            assert result.values[method][metric].shape == (4, 2 * DRAWS)
            assert result.values[method][metric][0].tolist() == pytest.approx([1.0] * 2 * DRAWS)
    # randomising the head (a 4 -> 3 Linear) moves the gradient: its sign map is the
    # head's target row times the rest, so it changes
    assert result.mean("gradient", "spearman")[1] < 0.999


def test_images_under_48_px_get_hog_cells_whose_block_fits(monkeypatch) -> None:
    cells = []
    original = sanity_module.hog_correlation
    monkeypatch.setattr(
        sanity_module,
        "hog_correlation",
        lambda a, b, cell: cells.append(cell) or original(a, b, cell=cell),
    )
    small = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    result = sanity_check(Tiny(), small, ["gradcam"])
    assert set(cells) == {10}  # 32 // 3: a block of 3 x 3 cells fits in 32 px
    assert result.values["gradcam"]["hog"][0].tolist() == pytest.approx([1.0])


def test_draws_are_independent_randomisations_of_one_seeded_stream() -> None:
    one = sanity_check(Tiny(), images(), ["gradient"], seed=5)
    three = sanity_check(Tiny(), images(), ["gradient"], draws=3, seed=5)
    again = sanity_check(Tiny(), images(), ["gradient"], draws=3, seed=5)
    first, all_three = one.values["gradient"]["spearman"], three.values["gradient"]["spearman"]
    assert (one.draws, three.draws) == (1, 3)
    assert all_three.shape == (4, 6)
    # the first draw is the single-draw run; later draws differ from it; seeded
    np.testing.assert_array_equal(all_three[:, :2], first)
    assert not np.allclose(all_three[1:, 2:4], first[1:])
    np.testing.assert_array_equal(all_three, again.values["gradient"]["spearman"])
    assert three.mean("gradient", "spearman") == pytest.approx(all_three.mean(axis=1))
    for bad in (0, 1.5, True):
        with pytest.raises(OptionError, match="draws must be a whole number"):
            sanity_check(Tiny(), images(), ["gradient"], draws=bad)


def test_summary_is_exactly_the_sanity_json_layout(tmp_path) -> None:
    result = sanity_check(Tiny(), images(), ["gradcam", "gradient"], keep_maps=2)
    paths = result.save(tmp_path)
    written = json.loads(paths["json"].read_text())
    assert written == json.loads(json.dumps(result.summary()))
    assert list(written) == ["gradcam", "gradient"]
    for entry in written.values():
        assert list(entry) == ["layers", "spearman", "spearman_abs", "ssim", "hog"]
        assert entry["layers"] == ["trained", "fc", "stage.1", "conv+bn"]
        assert all(len(entry[m]) == 4 and entry[m][0] == 1.0 for m in METRICS)
    assert result.maps["gradient"].shape == (4, 2, 48, 48)
    assert result.attributions["gradient"].shape == (4, 2, 3, 48, 48)
    assert result.grid(1).size[1] > result.grid(1).size[0]  # 4 rows of panels
    assert {p.name for p in tmp_path.iterdir()} == {
        "sanity.json",
        "sanity_plot.png",
        "sanity_grid.png",
    }
    with pytest.raises(OptionError, match=r"images 0..1 \(keep_maps=\), got 2"):
        result.grid(2)


def test_bad_arguments_say_what_is_allowed() -> None:
    with pytest.raises(OptionError, match="mode must be 'cascading' or 'independent'"):
        sanity_check(Tiny(), images(), ["gradient"], "cascade")
    with pytest.raises(OptionError, match="one target per image"):
        sanity_check(Tiny(), images(), ["gradient"], targets="top2")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"seed": float("nan")},
            OptionError,
            "seed must be a whole number from -2\\*\\*63 to 2\\*\\*64 - 1, got nan",
        ),
        ({"seed": None}, OptionError, "seed must be a whole number .* got None"),
        ({"seed": 2**70}, OptionError, "seed must be a whole number .* got 1180591620717411303424"),
        ({"seed": "1"}, OptionError, "seed must be a whole number .* got '1'"),
        ({"layers": [3]}, LayerError, "each entry of layers= is a module name .* got 3"),
    ],
)
def test_bad_seed_or_step_is_one_clear_error(options, error, message) -> None:
    # Before: ValueError / TypeError tracebacks from int(), torch.manual_seed and tuple().
    with pytest.raises(error, match=message):
        sanity_check(Tiny(), images(), ["gradient"], **options)


def test_no_images_says_none_were_given() -> None:
    # Before: "no image could be read: " with nothing after the colon.
    with pytest.raises(ImageError, match="no images were given"):
        sanity_check(Tiny(), [], ["gradient"], layers=["fc"])


def test_grid_captions_say_each_map_has_its_own_scale(monkeypatch) -> None:
    # Every map of the grid is drawn on its own scale (bars read 0 .. max): before, no
    # caption said so, and a nearly flat randomised map looked as strong as the trained one.
    import seewhy.render

    blocks: list = []
    real = seewhy.render.explanation_figure
    monkeypatch.setattr(
        seewhy.render, "explanation_figure", lambda b, **kw: blocks.extend(b) or real(b, **kw)
    )
    methods = ["gradcam", "gradient", "guided_backprop"]
    result = sanity_check(Tiny(), images(), methods, layers=["fc"], layer="stage")
    result.grid(0)
    gradcam, gradient, guided = blocks[0].captions
    assert gradcam == "each map on its own scale,\nstrengths do not compare"
    assert gradient.splitlines()[2:] == [
        "clipped at |map|'s 99th percentile",
        "red: raises the target's score, blue: lowers it",
    ]
    assert guided is None  # a gradient image's own caption


def test_lite0_on_chelsea_reproduces_the_published_verdict(lite0, chelsea_path) -> None:
    """Adebayo et al.: the gradient and Grad-CAM lose their similarity as the layers are
    randomised from the output down; guided backprop keeps it until the lower layers."""
    result = sanity_check(lite0, [chelsea_path], ["gradcam", "gradient", "guided_backprop"])
    assert result.targets.tolist() == [285]
    mean = {m: {k: result.mean(m, k) for k in METRICS} for m in result.methods}
    last = slice(-1, None)
    # the gradient: every measure far from 1 from the first step on, SSIM under 0.5 at the end
    for metric in METRICS:
        assert mean["gradient"][metric][1] < 0.4
    assert mean["gradient"]["ssim"][last] == pytest.approx([0.39], abs=0.03)
    assert mean["gradient"]["spearman"][last] == pytest.approx([0.0], abs=0.03)
    # Grad-CAM: anti-correlated ranks, no shared HOG structure and SSIM under 0.5 once the
    # head is random (its randomised map is nearly flat, 0.009..0.035, and SSIM compares its
    # min-max scaled structure, as the authors' code does: 0.52 scaled by its maximum)
    assert mean["gradcam"]["spearman"][last] == pytest.approx([-0.507], abs=0.03)
    assert mean["gradcam"]["hog"][last] == pytest.approx([0.06], abs=0.03)
    assert mean["gradcam"]["ssim"][last] == pytest.approx([0.40], abs=0.03)
    for method in ("gradcam", "gradient"):
        assert mean[method]["ssim"][-1] < 0.5
    # guided backprop: >= 0.99 on every measure until blocks.6 is random, then falls
    for metric in METRICS:
        assert np.all(mean["guided_backprop"][metric][:4] >= 0.99)
        assert mean["guided_backprop"][metric][-1] < 0.7
    assert result.steps[3] == "blocks.6"


def test_noisy_methods_get_the_checks_seed_so_the_unrandomised_copy_scores_one() -> None:
    """Unseeded, SmoothGrad and smooth: drew new noise per explanation: the ``trained``
    step compared two noises, not two models."""
    methods = {"smoothgrad": {"n": 3}, "smooth:gradcam": {"n": 3}}
    result = sanity_check(Tiny(), images(), methods, layers=["fc"], seed=3)
    for method in methods:
        assert result.mean(method, "spearman")[0] == pytest.approx(1.0)
    given = sanity_module.seeded({"smoothgrad": {"seed": 7}, "gradcam": {}}, 3)
    assert given == {"smoothgrad": {"seed": 7}, "gradcam": {}}  # a given seed stands
