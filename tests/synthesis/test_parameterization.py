"""Parameterizations: zero parameters are the mean image, and every image can be set exactly."""

from __future__ import annotations

import pytest
import torch

from seewhy.synthesis.parameterization import COLOR_CORRELATION_SVD_SQRT, make_image

MEAN = (0.485, 0.456, 0.406)


@pytest.mark.parametrize("kind", ["pixel", "fourier"])
@pytest.mark.parametrize("decorrelate", [False, True])
def test_zero_parameters_give_the_mean_colour(kind: str, decorrelate: bool) -> None:
    image = make_image(kind, (2, 3, 16, 12), MEAN, decorrelate, torch.device("cpu"))
    pixels = image.pixels()
    assert pixels.shape == (2, 3, 16, 12)
    expected = torch.tensor(MEAN).view(1, 3, 1, 1).expand_as(pixels)
    torch.testing.assert_close(pixels, expected)


@pytest.mark.parametrize("kind", ["pixel", "fourier"])
@pytest.mark.parametrize("decorrelate", [False, True])
@pytest.mark.parametrize("width", [12, 13])
def test_set_pixels_round_trips(kind: str, decorrelate: bool, width: int) -> None:
    target = torch.rand(1, 3, 10, width, generator=torch.Generator().manual_seed(0))
    target = target.clamp(0.01, 0.99)
    image = make_image(kind, (1, 3, 10, width), MEAN, decorrelate, torch.device("cpu"))
    image.set_pixels(target)
    torch.testing.assert_close(image.pixels(), target, atol=1e-4, rtol=0)


def test_decorrelation_matrix_is_lucids_normalized_by_its_largest_column() -> None:
    image = make_image("pixel", (1, 3, 2, 2), MEAN, True, torch.device("cpu"))
    assert image.color.norm(dim=0).max().item() == pytest.approx(1.0)
    ratio = image.color / COLOR_CORRELATION_SVD_SQRT.clamp_min(1e-9)
    assert ratio[0, 0].item() == pytest.approx(1 / (0.26**2 + 0.27**2 + 0.27**2) ** 0.5)


def test_fourier_scale_is_one_over_frequency() -> None:
    image = make_image("fourier", (1, 3, 8, 8), MEAN, False, torch.device("cpu"))
    assert image.scale.shape == (8, 5)
    assert image.scale[0, 0].item() == pytest.approx(8.0)  # 1 / max(0, 1/8)
    assert image.scale[0, 4].item() == pytest.approx(2.0)  # f = 0.5
    assert image.scale[1, 1].item() == pytest.approx(1 / (2 * (1 / 8) ** 2) ** 0.5)
