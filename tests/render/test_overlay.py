"""normalize_map, colorize, overlay and overlay_signed."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from PIL import Image

from seewhy.io.rgb import as_rgb_uint8
from seewhy.render import colorize, normalize_map, overlay, overlay_signed
from seewhy.render.overlay import as_rgb_uint8 as render_as_rgb_uint8


def _photo(h: int = 224, w: int = 224) -> np.ndarray:
    """A synthetic gradient photo, (h, w, 3) uint8."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = xx * 255 // max(w - 1, 1)
    g = yy * 255 // max(h - 1, 1)
    b = (xx + yy) * 255 // max(h + w - 2, 1)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def test_normalize_zeros_stay_zeros() -> None:
    out = normalize_map(np.zeros((5, 6)))
    assert out.shape == (5, 6)
    assert np.all(out == 0.0)
    assert np.all(np.isfinite(out))


def test_normalize_values() -> None:
    out = normalize_map(np.array([[0.0, 2.0], [4.0, 4.0]]))
    np.testing.assert_allclose(out.ravel(), [0.0, 0.5, 1.0, 1.0], atol=1e-6)


def test_normalize_each_map_on_its_own() -> None:
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(2, 2, 8, 9)) * np.array([1.0, 10.0, 100.0, -3.0]).reshape(2, 2, 1, 1)
    stack[1, 1] = 0.0
    out = normalize_map(stack)
    assert out.shape == stack.shape
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(out[i, j], normalize_map(stack[i, j]), atol=1e-12)
            if (i, j) != (1, 1):
                assert out[i, j].min() == pytest.approx(0.0, abs=1e-6)
                assert out[i, j].max() == pytest.approx(1.0, abs=1e-6)
    assert np.all(out[1, 1] == 0.0)


def test_normalize_rejects_1d() -> None:
    with pytest.raises(ValueError, match="H, W"):
        normalize_map(np.arange(4.0))


def test_colorize_ends_match_jet() -> None:
    jet = matplotlib.colormaps["jet"]
    out = colorize(np.array([[0.0, 1.0]]))
    assert out.shape == (1, 2, 3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], np.asarray(jet(0.0, bytes=True))[:3])
    np.testing.assert_array_equal(out[0, 1], np.asarray(jet(1.0, bytes=True))[:3])
    np.testing.assert_allclose(out[0, 0] / 255.0, jet(0.0)[:3], atol=1 / 255)
    np.testing.assert_allclose(out[0, 1] / 255.0, jet(1.0)[:3], atol=1 / 255)


def test_colorize_other_cmap_and_clipping() -> None:
    out = colorize(np.array([[-1.0, 2.0]]), cmap="viridis")
    viridis = matplotlib.colormaps["viridis"]
    np.testing.assert_array_equal(out[0, 0], np.asarray(viridis(0.0, bytes=True))[:3])
    np.testing.assert_array_equal(out[0, 1], np.asarray(viridis(1.0, bytes=True))[:3])


def test_overlay_alpha_zero_is_the_image() -> None:
    img = _photo(32, 40)
    heat = np.random.default_rng(1).random((32, 40))
    out = overlay(img, heat, alpha=0.0)
    assert isinstance(out, Image.Image)
    assert out.mode == "RGB"
    assert out.size == (40, 32)
    np.testing.assert_array_equal(np.asarray(out), img)


def test_overlay_reads_the_photo_with_the_io_rule() -> None:
    assert render_as_rgb_uint8 is as_rgb_uint8  # the old name, re-exported
    rgba = np.array([[[255, 0, 0, 128], [1, 2, 3, 255]]] * 2, dtype=np.uint8)
    out = overlay(rgba, np.zeros((2, 2)), alpha=0.0)
    assert np.asarray(out).tolist() == [[[255, 127, 127], [1, 2, 3]]] * 2  # alpha on white
    wide = overlay(np.array([[2.0, 300.0]] * 2), np.zeros((2, 2)), alpha=0.0)
    assert np.asarray(wide).tolist() == [[[2] * 3, [255] * 3]] * 2  # 0..255 floats, not x 255


def test_overlay_alpha_one_is_the_colorized_map() -> None:
    img = _photo(32, 40)
    heat = np.random.default_rng(2).random((32, 40)) * 7.0 - 3.0
    out = overlay(img, heat, alpha=1.0)
    np.testing.assert_array_equal(np.asarray(out), colorize(normalize_map(heat)))
    raw = overlay(img, (heat + 3.0) / 7.0, alpha=1.0, normalize=False)
    np.testing.assert_array_equal(np.asarray(raw), colorize((heat + 3.0) / 7.0))


def test_overlay_half_alpha_blends() -> None:
    img = _photo(16, 16)
    heat = np.random.default_rng(3).random((16, 16))
    out = np.asarray(overlay(img, heat, alpha=0.5)).astype(int)
    expected = 0.5 * img.astype(float) + 0.5 * colorize(normalize_map(heat)).astype(float)
    assert np.abs(out - expected).max() <= 0.5 + 1e-9


def test_overlay_resizes_and_keeps_the_peak_in_place() -> None:
    img = np.full((224, 224, 3), 128, dtype=np.uint8)
    heat = np.zeros((7, 7))
    heat[0, 0] = 1.0
    out = np.asarray(overlay(img, heat, alpha=1.0))
    assert out.shape == (224, 224, 3)
    # "red" = strong red, little blue: jet's hot end
    redness = out[..., 0].astype(int) - out[..., 2].astype(int)
    y, x = np.unravel_index(np.argmax(redness), redness.shape)
    assert y < 112 and x < 112
    red = redness > 100
    assert red[:112, :112].sum() > 100
    assert not red[112:, :].any() and not red[:, 112:].any()
    assert redness[112:, 112:].max() < 0  # far corner is the cold (blue) end


def test_overlay_accepts_channel_dims_and_rejects_bad_heat() -> None:
    img = _photo(8, 8)
    out = overlay(img, np.ones((1, 1, 4, 4)), alpha=0.0)
    np.testing.assert_array_equal(np.asarray(out), img)
    with pytest.raises(ValueError, match="heat"):
        overlay(img, np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, np.ones((4, 4)), alpha=1.5)


def test_overlay_signed_symmetric_and_clipped() -> None:
    img = _photo(20, 20)
    heat = np.zeros((20, 20))
    heat[:, :10] = 1.0
    heat[:, 10:] = -1.0
    heat[0, 0] = 1000.0  # one extreme pixel must not wash the rest out
    out = np.asarray(overlay_signed(img, heat, alpha=1.0))
    bwr = matplotlib.colormaps["bwr"]
    np.testing.assert_array_equal(out[5, 5], np.asarray(bwr(1.0, bytes=True))[:3])
    np.testing.assert_array_equal(out[5, 15], np.asarray(bwr(0.0, bytes=True))[:3])
    zero = np.asarray(overlay_signed(img, np.zeros((20, 20)), alpha=1.0))
    np.testing.assert_array_equal(zero[3, 3], np.asarray(bwr(0.5, bytes=True))[:3])
    same = np.asarray(overlay_signed(img, heat, alpha=0.0))
    np.testing.assert_array_equal(same, img)


def test_blend_at_half_alpha_is_the_integer_formula_exactly() -> None:
    """alpha 0.5 takes a uint16 shortcut; it must equal the general rounding formula,
    ``image + ((colored - image) * 128 + 128) >> 8``, for every pair of byte values."""
    from seewhy.render.overlay import blend

    values = np.arange(256, dtype=np.uint8)
    image, colored = np.meshgrid(values, values, indexing="ij")
    image = np.repeat(image[..., None], 3, axis=2)
    colored = np.repeat(colored[..., None], 3, axis=2)
    general = image.astype(np.int32) + (((colored.astype(np.int32) - image) * 128 + 128) >> 8)
    np.testing.assert_array_equal(np.asarray(blend(image, colored, 0.5)), general)
    np.testing.assert_array_equal(
        np.asarray(blend(image, colored, 0.25)),
        image.astype(np.int32) + (((colored.astype(np.int32) - image) * 64 + 128) >> 8),
    )


def test_as_heat_keeps_float32_and_clears_nans() -> None:
    from seewhy.render.overlay import as_heat

    h = as_heat(np.ones((1, 4, 4), np.float32))
    assert h.dtype == np.float32 and h.shape == (4, 4)
    holes = np.array([[np.nan, 1.0], [np.inf, -2.0]])
    np.testing.assert_array_equal(as_heat(holes), np.nan_to_num(holes))
    assert as_heat(np.arange(4, dtype=np.int64).reshape(2, 2)).dtype == np.float64


def test_finite_is_nan_to_num_without_a_copy_when_nothing_needs_it() -> None:
    from seewhy.render.overlay import finite

    clean = np.array([[0.5, -2.0]], dtype=np.float32)
    assert finite(clean) is clean
    dirty = np.array([[np.nan, np.inf, -np.inf, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(finite(dirty), np.nan_to_num(dirty))
