"""``seewhy.metrics.similarity``: hand-computed Spearman, SSIM and HOG against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.feature import hog
from skimage.metrics import structural_similarity

from seewhy.errors import OptionError
from seewhy.metrics import hog_correlation, spearman, ssim
from seewhy.metrics.similarity import scaled, unit_range


def test_spearman_by_hand() -> None:
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    b = torch.tensor([[[1.0, 3.0], [2.0, 4.0]]])
    # 1 - 6 sum d^2 / (n (n^2 - 1)) with d = (0, -1, 1, 0): 1 - 12 / 60
    assert spearman(a, b) == pytest.approx([0.8])
    assert spearman(a, -a) == pytest.approx([-1.0])
    # ties get their mean rank: ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4)
    tied = torch.tensor([[[1.0, 1.0], [3.0, 4.0]]])
    expected = np.corrcoef([1.5, 1.5, 3, 4], [1, 2, 3, 4])[0, 1]
    assert spearman(tied, a) == pytest.approx([expected])


def test_spearman_of_absolute_values_ignores_the_sign() -> None:
    a = torch.tensor([[[-4.0, 1.0], [2.0, -3.0]]])
    b = torch.tensor([[[4.0, 1.0], [2.0, 3.0]]])
    assert spearman(a, b, absolute=True) == pytest.approx([1.0])
    # signed ranks (1, 3, 4, 2) against (4, 1, 2, 3): d = (-3, 2, 2, -1), 1 - 6 * 18 / 60
    assert spearman(a, b) == pytest.approx([-0.8])


def test_a_constant_map_has_no_correlation() -> None:
    maps = torch.rand(2, 48, 48)
    flat = maps.clone()
    flat[1] = 0.5
    assert np.isnan(spearman(maps, flat)).tolist() == [False, True]
    assert np.isnan(hog_correlation(maps, flat)).tolist() == [False, True]


def test_scaled_keeps_the_sign_within_minus_one_one() -> None:
    out = scaled(np.array([[[-2.0, 1.0]], [[0.0, 0.0]], [[0.5, 0.25]]]))
    assert out.tolist() == [[[-1.0, 0.5]], [[0.0, 0.0]], [[1.0, 0.5]]]


def test_unit_range_scales_each_map_to_zero_one() -> None:
    out = unit_range(np.array([[[-2.0, 1.0, 0.0]], [[3.0, 3.0, 3.0]], [[0.5, 0.25, 1.0]]]))
    np.testing.assert_allclose(out, [[[0.0, 1.0, 2 / 3]], [[0.0, 0.0, 0.0]], [[1 / 3, 0.0, 1.0]]])


def test_ssim_is_scikit_image_on_min_max_scaled_maps_with_data_range_one() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(3, 40, 48, generator=generator)
    b = a + 0.5 * torch.randn(3, 40, 48, generator=generator)
    ours = ssim(a, 7 * b - 3)  # a positive factor and a shift change nothing
    for i in range(3):
        x, y = a[i].double().numpy(), b[i].double().numpy()
        x, y = (x - x.min()) / np.ptp(x), (y - y.min()) / np.ptp(y)
        expected = structural_similarity(x, y, win_size=5, data_range=1.0)
        assert ours[i] == pytest.approx(expected, abs=1e-6)
        # the dtype's range (2) would quadruple C1 and C2 and call the pair more alike
        assert ours[i] < structural_similarity(x, y, win_size=5, data_range=2.0)
    assert ssim(a, a) == pytest.approx([1.0, 1.0, 1.0])


def test_ssim_reads_a_nearly_constant_map_by_its_own_structure() -> None:
    """A randomised model's Grad-CAM can be nearly flat (0.009..0.035 on chelsea): its
    structure, not its offset, is compared."""
    generator = torch.Generator().manual_seed(2)
    a = torch.rand(2, 32, 32, generator=generator)
    flat = 0.01 + 0.02 * a
    assert ssim(a, flat) == pytest.approx([1.0, 1.0])
    # scaled by its maximum instead, the flat map's offset would count against it
    for x, y in zip(a, flat):
        x, y = (x / x.max()).double().numpy(), (y / y.max()).double().numpy()
        assert structural_similarity(x, y, win_size=5, data_range=1.0) < 0.9


def test_hog_correlation_is_pearson_of_scikit_image_hog() -> None:
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(2, 64, 64, generator=generator)
    b = torch.rand(2, 64, 64, generator=generator)
    ours = hog_correlation(a, b)
    for i in range(2):
        x = hog(a[i].double().numpy() / a[i].max().item(), pixels_per_cell=(16, 16))
        y = hog(b[i].double().numpy() / b[i].max().item(), pixels_per_cell=(16, 16))
        assert ours[i] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)
    assert hog_correlation(a, 3 * a) == pytest.approx([1.0, 1.0])


def test_shapes_and_options_are_checked() -> None:
    with pytest.raises(OptionError, match=r"\(N, H, W\), got \(2, 8, 8\) and \(2, 8, 9\)"):
        spearman(torch.zeros(2, 8, 8), torch.zeros(2, 8, 9))
    with pytest.raises(OptionError, match="window must be an odd number"):
        ssim(torch.rand(1, 16, 16), torch.rand(1, 16, 16), window=4)
    with pytest.raises(OptionError, match="a block of 3 x 3 cells must fit"):
        hog_correlation(torch.rand(1, 40, 40), torch.rand(1, 40, 40))
