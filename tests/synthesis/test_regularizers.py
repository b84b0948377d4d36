"""Random transforms and penalties, against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from seewhy.synthesis.regularizers import Penalties, Transforms, penalties, random_transform


def test_identity_transform_leaves_the_image() -> None:
    image = torch.randn(2, 3, 9, 9)
    none = Transforms(jitter=0, scale=(1.0, 1.0), rotate=0)
    assert random_transform(image, none, torch.Generator()) is image


def test_transforms_follow_the_generator() -> None:
    image = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    shift = Transforms(jitter=1.0, scale=(1.0, 1.0), rotate=0.0)
    moved = random_transform(image, shift, torch.Generator().manual_seed(0))
    assert moved.shape == image.shape
    assert not torch.equal(moved[0], image[0])
    again = random_transform(image, shift, torch.Generator().manual_seed(0))
    other = random_transform(image, shift, torch.Generator().manual_seed(1))
    assert torch.equal(moved, again) and not torch.equal(moved, other)


def test_zoomed_out_view_shows_the_mean_at_the_border() -> None:
    image = torch.ones(1, 3, 20, 20)
    out = random_transform(image, Transforms(0.0, (0.5, 0.5), 0.0), torch.Generator())
    assert out[0, :, 0, 0].abs().max() == 0  # uncovered corner: normalized 0 = mean colour
    assert torch.allclose(out[0, :, 10, 10], torch.ones(3))


def test_penalties_are_means() -> None:
    pixels = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]]).expand(1, 3, 2, 2)
    normalized = torch.full((1, 3, 2, 2), -2.0)
    assert penalties(pixels, normalized, Penalties(l2=0.5)).item() == pytest.approx(2.0)
    assert penalties(pixels, normalized, Penalties(l1=0.5)).item() == pytest.approx(1.0)
    # TV: vertical |diffs| mean (1 + 0) / 2, horizontal (1 + 0) / 2.
    assert penalties(pixels, normalized, Penalties(tv=1.0)).item() == pytest.approx(1.0)
    assert penalties(pixels, normalized, Penalties()).item() == 0
