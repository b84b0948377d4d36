"""ROAD: the imputation against pytorch-grad-cam's (the authors' code), hand cases, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import TinyGapNet, dirty, snapshot

import seewhy
from seewhy.metrics import road, road_combined, road_impute
from seewhy.metrics.dissection import LEAF, dissection_order
from seewhy.metrics.road import removal_order


@pytest.mark.parametrize("share", [0.1, 0.5, 0.95])
def test_road_impute_equals_pytorch_grad_cams_imputer_without_noise(share):
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    torch.manual_seed(0)
    image = torch.randn(3, 23, 31)
    removed = torch.rand(23, 31) < share
    removed[0, 0] = removed[-1, -1] = True  # corners: neighbours outside the image
    expected = NoisyLinearImputer(noise=0)(image, (~removed).float())  # 1: kept
    torch.testing.assert_close(road_impute(image, removed, noise=0), expected, atol=1e-6, rtol=0)


def hole_cases() -> list[tuple[str, torch.Tensor]]:
    """Removed masks the solver must get right: large holes, borders, whole rows, tiny
    images, single pixels, nothing removed."""
    generator = torch.Generator().manual_seed(7)
    big = torch.zeros(30, 41, dtype=torch.bool)
    big[3:27, 4:38] = True  # one large hole, kept only along the border
    border = torch.zeros(30, 41, dtype=torch.bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    rows = torch.zeros(30, 41, dtype=torch.bool)
    rows[:5], rows[12], rows[-3:] = True, True, True  # whole rows, top and bottom included
    columns = rows.T.clone()
    single = torch.zeros(30, 41, dtype=torch.bool)
    single[0, 0] = single[15, 20] = single[29, 40] = single[0, 17] = True
    almost = torch.ones(30, 41, dtype=torch.bool)
    almost[11, 30] = False  # one kept pixel
    blobs = torch.rand(30, 41, generator=generator) < 0.97
    return [
        ("large hole", big),
        ("border", border),
        ("whole rows", rows),
        ("whole columns", columns),
        ("single pixels", single),
        ("one kept pixel", almost),
        ("random 97 %", blobs),
        ("nothing removed", torch.zeros(30, 41, dtype=torch.bool)),
        ("1 x 1, nothing removed", torch.zeros(1, 1, dtype=torch.bool)),
        ("1 x 2", torch.tensor([[True, False]])),
        ("2 x 2", torch.tensor([[True, True], [True, False]])),
        ("1 x 6 row", torch.tensor([[False, True, True, True, True, False]])),
        ("7 x 1 column", torch.tensor([[True], [True], [False], [True], [True], [True], [False]])),
    ]


@pytest.mark.parametrize("case", hole_cases(), ids=lambda case: case[0])
def test_road_impute_solves_pytorch_grad_cams_system_on_hard_masks(case):
    """Against the authors' system solved by ``spsolve`` in float64: the elimination order
    and the leaf condensation must not change the solution."""
    _, removed = case
    torch.manual_seed(2)
    image = torch.randn(3, *removed.shape, dtype=torch.float64)
    ours = road_impute(image, removed, noise=0)
    assert torch.equal(ours[:, ~removed], image[:, ~removed])  # kept pixels untouched
    if removed.any():
        expected = authors_solution(image, removed)
        np.testing.assert_allclose(ours[:, removed].numpy(), expected, atol=1e-10, rtol=0)


def authors_solution(image: torch.Tensor, removed: torch.Tensor) -> np.ndarray:
    """(C, removed count) the authors' system (pytorch-grad-cam's ``setup_sparse_system``)
    solved by SciPy's ``spsolve`` in float64."""
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer, neighbors_weights
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    kept = (~removed).double().numpy()
    matrix, rhs = NoisyLinearImputer.setup_sparse_system(kept, image.numpy(), neighbors_weights)
    return spsolve(csc_matrix(matrix), rhs).reshape(-1, image.shape[0]).T


@pytest.mark.parametrize("case", hole_cases()[:8], ids=lambda case: case[0])
def test_road_impute_without_a_plan_past_planned_pixels(case, monkeypatch):
    """Images past ``PLANNED_PIXELS`` are solved by SuperLU on the whole system: the same."""
    from seewhy.metrics import imputation

    _, removed = case
    image = torch.randn(3, *removed.shape, dtype=torch.float64)
    planned = road_impute(image, removed, noise=0.02, seed=4)
    monkeypatch.setattr(imputation, "PLANNED_PIXELS", 0)
    whole = road_impute(image, removed, noise=0.02, seed=4)
    torch.testing.assert_close(whole, planned, atol=1e-10, rtol=0)
    if removed.any():
        expected = authors_solution(image, removed)
        ours = road_impute(image, removed, noise=0)[:, removed].numpy()
        np.testing.assert_allclose(ours, expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("leaf", [4, 16, 64, 400])
def test_road_impute_does_not_depend_on_the_leaf_size(leaf, monkeypatch):
    """Blobs (a smooth map's top and bottom shares, as ROAD removes them) and scattered
    pixels on a 53 x 70 image, condensed with leaves of 4 to 400 pixels."""
    from seewhy.metrics import dissection

    monkeypatch.setattr(dissection, "LEAF", leaf)
    dissection.plan.cache_clear()
    dissection.dissection_order.cache_clear()
    try:
        generator = torch.Generator().manual_seed(leaf)
        image = torch.randn(3, 53, 70, dtype=torch.float64, generator=generator)
        smooth = torch.nn.functional.interpolate(
            torch.rand(1, 1, 5, 6, generator=generator), size=(53, 70), mode="bilinear"
        )[0, 0]
        order = smooth.flatten().argsort(descending=True)
        for share in (0.1, 0.5, 0.9):
            for ranked in (order, order.flip(0)):
                removed = torch.zeros(53 * 70, dtype=torch.bool)
                removed[ranked[: int(53 * 70 * share)]] = True
                removed = removed.view(53, 70)
                ours = road_impute(image, removed, noise=0)[:, removed].numpy()
                np.testing.assert_allclose(ours, authors_solution(image, removed), atol=1e-10)
        scattered = torch.rand(53, 70, generator=generator) < 0.6
        ours = road_impute(image, scattered, noise=0)[:, scattered].numpy()
        np.testing.assert_allclose(ours, authors_solution(image, scattered), atol=1e-10)
    finally:
        dissection.plan.cache_clear()
        dissection.dissection_order.cache_clear()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (4, 4), (5, 9), (17, 16), (224, 224)])
def test_dissection_order_is_a_permutation_that_ends_with_the_first_cut(shape):
    height, width = shape
    order = dissection_order(height, width)
    assert sorted(order.tolist()) == list(range(height * width))
    if height * width > LEAF:  # the first cut (the middle column or row) is eliminated last
        if width >= height:
            last = np.arange(height) * width + width // 2
        else:
            last = (height // 2) * width + np.arange(width)
        assert sorted(order[-last.size :].tolist()) == sorted(last.tolist())


def test_road_impute_by_hand():
    image = torch.arange(9, dtype=torch.float64).view(1, 3, 3)
    removed = torch.zeros(3, 3, dtype=torch.bool)
    removed[1, 1] = True  # centre: edges 1, 3, 5, 7 at 1/6, corners 0, 2, 6, 8 at 1/12
    out = road_impute(image, removed, noise=0)
    assert out[0, 1, 1].item() == pytest.approx((1 + 3 + 5 + 7) / 6 + (0 + 2 + 6 + 8) / 12)
    removed = torch.zeros(3, 3, dtype=torch.bool)
    removed[0, 0] = True  # corner: neighbours 1, 3 (1/6) and 4 (1/12), renormalized by 5/12
    out = road_impute(image, removed, noise=0)
    assert out[0, 0, 0].item() == pytest.approx(((1 + 3) / 6 + 4 / 12) / (5 / 12))
    # two removed neighbours: x = (2/6 ... ) solve the 2 x 2 system by hand on a 1 x 4 row
    row = torch.tensor([[[1.0, 0.0, 0.0, 7.0]]], dtype=torch.float64)
    gap = torch.tensor([[False, True, True, False]])
    # each gap pixel: mean of its 2 row neighbours -> x1 = (1 + x2) / 2, x2 = (x1 + 7) / 2
    out = road_impute(row, gap, noise=0)
    torch.testing.assert_close(out[0, 0], torch.tensor([1.0, 3.0, 5.0, 7.0], dtype=torch.float64))
    assert torch.equal(out[:, ~gap], row[:, ~gap])  # kept pixels untouched


def test_road_impute_noise_is_seeded_and_per_channel():
    torch.manual_seed(1)
    images = torch.randn(2, 3, 40, 40)
    removed = torch.rand(2, 40, 40) < 0.5
    exact = road_impute(images, removed, noise=0)
    noisy = road_impute(images, removed, noise=(0.01, 0.02, 0.04), seed=3)
    torch.testing.assert_close(noisy, road_impute(images, removed, (0.01, 0.02, 0.04), seed=3))
    assert not torch.equal(noisy, road_impute(images, removed, (0.01, 0.02, 0.04), seed=4))
    difference = (noisy - exact).permute(1, 0, 2, 3)[:, removed]
    np.testing.assert_allclose(difference.std(dim=1).numpy(), [0.01, 0.02, 0.04], rtol=0.05)
    assert torch.equal(
        (noisy - exact).permute(1, 0, 2, 3)[:, ~removed], torch.zeros(3, (~removed).sum())
    )
    with pytest.raises(seewhy.SeewhyError, match="at least one kept pixel"):
        road_impute(images[:1], torch.ones(1, 40, 40, dtype=torch.bool))


def test_removal_order_breaks_only_ties_at_random():
    maps = torch.tensor([[[0.0, 3.0, 0.0, 0.0, 2.0, 0.0]]])
    for seed in range(5):
        order = removal_order(maps, seed)[0].tolist()
        assert order[:2] == [1, 4] and sorted(order[2:]) == [0, 2, 3, 5]
    assert len({tuple(removal_order(maps, seed)[0].tolist()) for seed in range(8)}) > 1


def sensitive_model(seed: int = 0) -> TinyGapNet:
    torch.manual_seed(seed)
    model = TinyGapNet().eval()
    model.fc.weight.data *= 30  # probabilities that move with the pixels
    return model


def test_road_is_seeded_and_does_not_depend_on_the_batches():
    model = sensitive_model()
    images, maps = torch.randn(3, 3, 12, 12), torch.rand(3, 12, 12)
    first = road(model, images, maps, [0, 1, 2], percentiles=(20, 50, 80), seed=5, batch_size=2)
    again = road(model, images, maps, [0, 1, 2], percentiles=(20, 50, 80), seed=5, batch_size=7)
    np.testing.assert_allclose(first.scores, again.scores, atol=1e-6)
    other = road(model, images, maps, [0, 1, 2], percentiles=(20, 50, 80), seed=6)
    assert np.abs(other.scores - first.scores).max() > 1e-6
    assert first.scores.shape == (3, 3) and first.clean.shape == (3,)
    np.testing.assert_allclose(first.change, first.scores - first.clean[:, None])
    # an image's noise is its own: the same scores in another row, or alone
    order = [2, 0, 1]
    moved = road(model, images[order], maps[order], [2, 0, 1], percentiles=(20, 50, 80), seed=5)
    np.testing.assert_allclose(moved.scores, first.scores[order], atol=1e-6)
    alone = road(model, images[2:], maps[2:], [2], percentiles=(20, 50, 80), seed=5)
    np.testing.assert_allclose(alone.scores, first.scores[2:], atol=1e-6)


def test_road_imputes_ahead_on_threads_and_passes_their_errors_on(monkeypatch):
    import importlib
    import threading

    road_module = importlib.import_module("seewhy.metrics.road")  # the attribute is the function

    model = sensitive_model()
    images, maps = torch.randn(4, 3, 12, 12), torch.rand(4, 12, 12)
    workers, calls = set(), []
    real = road_module.impute_one

    def watched(image, removed, noise, rng):
        workers.add(threading.current_thread().name)
        calls.append(int(removed.sum()))
        return real(image, removed, noise, rng)

    monkeypatch.setattr(road_module, "impute_one", watched)
    road(model, images, maps, [0, 1, 2, 3], percentiles=(20, 50), batch_size=3)
    assert workers and all(name.startswith("seewhy-road") for name in workers)
    assert len(calls) == 4 * 2  # every imputation once, none made twice ahead

    def broken(image, removed, noise, rng):
        raise ValueError("no solve")

    monkeypatch.setattr(road_module, "impute_one", broken)
    with pytest.raises(ValueError, match="no solve"):
        road(model, images, maps, [0, 1, 2, 3], percentiles=(20, 50), batch_size=3)
    assert not [t for t in threading.enumerate() if t.name.startswith("seewhy-road")]


def test_road_matches_pytorch_grad_cam_without_noise(monkeypatch):
    import pytorch_grad_cam.metrics.road as pgc_road
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    # pytorch-grad-cam's noise is fixed at 0.01 and unseeded: compare the noiseless imputation
    class Noiseless(pgc_road.NoisyLinearImputer):
        def __init__(self, noise: float = 0.0) -> None:
            super().__init__(noise=0.0)

    monkeypatch.setattr(pgc_road, "NoisyLinearImputer", Noiseless)
    model = sensitive_model(1)
    images, maps = torch.randn(2, 3, 10, 10), torch.rand(2, 10, 10)  # no ties
    targets = [1, 3]
    kw = {"noise": 0.0, "fast": False}
    morf, lerf = (
        road(model, images, maps, targets, **kw),
        road(model, images, maps, targets, order="lerf", **kw),
    )
    softmax = [ClassifierOutputSoftmaxTarget(t) for t in targets]
    for p in (10, 40, 90):
        # pytorch-grad-cam's p is the share kept: its p is seewhy's 100 - p
        j = list(morf.percentiles).index(100 - p)
        theirs = pgc_road.ROADMostRelevantFirst(p)(images, maps.numpy(), softmax, model)
        np.testing.assert_allclose(theirs, morf.change[:, j], atol=1e-5)
        theirs = pgc_road.ROADLeastRelevantFirst(p)(images, maps.numpy(), softmax, model)
        np.testing.assert_allclose(theirs, lerf.change[:, j], atol=1e-5)
    combined = pgc_road.ROADCombined()(images, maps.numpy(), softmax, model)
    np.testing.assert_allclose(combined, road_combined(morf, lerf), atol=1e-5)


def test_road_removes_p_percent_and_leaves_the_model_as_found():
    class Counts(torch.nn.Module):
        """logits [log(number of pixels exactly 5 in channel 0), 0]: the pixels kept."""

        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(2))

        def forward(self, x):
            kept = (x[:, 0] == 5).flatten(1).sum(1).double()
            return torch.stack([kept.log(), torch.zeros_like(kept)], 1) + self.bias

    model = dirty(Counts())
    before = snapshot(model)
    images = torch.full((1, 3, 10, 10), 5.0)
    images[0, 0, 0, 0] = 6  # one pixel that is not 5: imputation never gives exactly 5 there
    maps = torch.rand(1, 10, 10)
    maps[0, 0, 0] = 2.0  # the most relevant pixel
    for order in ("morf", "lerf"):
        result = road(model, images, maps, 0, percentiles=(10, 30), order=order, noise=0.05)
        kept = np.array([90, 70]) - (0 if order == "morf" else 1)  # MoRF removes the 6 first
        np.testing.assert_allclose(result.scores[0], kept / (kept + 1), rtol=1e-6)
    assert snapshot(model) == before


def test_road_options_are_checked():
    args = (TinyGapNet(), torch.randn(1, 3, 8, 8), torch.rand(1, 8, 8), 0)
    with pytest.raises(seewhy.SeewhyError, match="order='top'"):
        road(*args, order="top")
    with pytest.raises(seewhy.SeewhyError, match="percentiles"):
        road(*args, percentiles=(0, 50))
    with pytest.raises(seewhy.SeewhyError, match="seed must be an int"):
        road(*args, seed=None)
    morf = road(*args, percentiles=(50,))
    with pytest.raises(seewhy.SeewhyError, match="MoRF scores first"):
        road_combined(morf, morf)
