"""render/scale.py: the limits maps are drawn with, the diverging centre, colour bars and
legends; render/png.py: the fast PNG writer."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from seewhy.render import (
    Scale,
    blend,
    colorbar,
    colorize,
    encode_png,
    render_panel,
    scale_of,
    shared,
    sign_legend,
)
from seewhy.render.overlay import colormap_table


def test_cam_scale_is_zero_to_the_largest_max_of_the_maps() -> None:
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1], maps[1, 2, 2] = 3.0, 0.5
    assert scale_of(maps, "cam") == Scale("cam", 0.0, 3.0)
    assert scale_of(maps[1], "cam") == Scale("cam", 0.0, 0.5)
    assert scale_of(np.zeros((4, 4)), "cam") == Scale("cam", 0.0, 0.0)


def test_signed_scales_are_symmetric() -> None:
    maps = np.zeros((2, 10, 10))
    maps[0, 0, 0], maps[1, 5, 5] = -4.0, 1.0
    # A CAM drawn signed: the largest magnitude.
    assert scale_of(maps, "cam", signed=True) == Scale("signed", -4.0, 4.0)
    # An input-space map: the largest of the maps' 99th percentiles of |map|.
    values = np.arange(100.0).reshape(1, 10, 10) - 50.0
    expected = float(np.percentile(np.abs(values), 99))
    assert scale_of(values, "signed") == Scale("signed", -expected, expected)
    # One pixel in 400: its percentile is 0, so its own max (a sparse map is not drawn blank).
    sparse = np.zeros((20, 20))
    sparse[3, 3] = 1.0
    assert scale_of(sparse, "signed") == Scale("signed", -1.0, 1.0)
    assert scale_of(maps, "rgb") is None
    assert scale_of(np.abs(values), "abs").high == pytest.approx(expected)


def test_shared_is_the_scale_of_all_the_maps_together() -> None:
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 8, 8)) * np.array([1.0, 5.0, 0.1]).reshape(3, 1, 1)
    for display, signed in (("cam", False), ("cam", True), ("signed", False), ("abs", False)):
        one = shared(scale_of(m, display, signed) for m in maps)
        assert one == scale_of(maps, display, signed)
    with pytest.raises(ValueError, match="kinds"):
        shared([Scale("cam", 0, 1), Scale("signed", -1, 1)])


def test_zero_is_the_centre_colour_of_a_signed_map() -> None:
    """The diverging centre: a value of 0 is drawn in bwr's middle colour (white), whatever
    the map's other values, so no part of the photo looks like evidence it is not."""
    photo = np.full((8, 8, 3), 100, dtype=np.uint8)
    heat = np.zeros((8, 8))
    heat[0, :4], heat[0, 4:] = 3.0, -0.5  # lopsided: the min-max centre would be 1.25
    scale = scale_of(heat, "cam", signed=True)
    centre = colormap_table("bwr")[128]
    assert centre.tolist() == [255, 254, 254]  # bwr's middle: white
    np.testing.assert_array_equal(scale.colorize(heat)[1:], np.broadcast_to(centre, (7, 8, 3)))
    assert scale.unit(np.zeros(1))[0] == 0.5
    panel = np.asarray(render_panel(photo, heat, "cam", scale=scale))
    expected = np.asarray(blend(photo[:1, :1], centre.reshape(1, 1, 3), 0.5))[0, 0]
    assert (panel[1:] == expected).all()
    # Red raises the score, blue lowers it.
    assert panel[0, 0, 0] > panel[0, 0, 2] and panel[0, 7, 2] > panel[0, 7, 0]


def test_colorize_is_matplotlib_s_colormap() -> None:
    values = np.linspace(0.0, 1.0, 1001).reshape(7, 143)
    for name in ("jet", "bwr", "gray"):
        expected = matplotlib.colormaps[name](values, bytes=True)[..., :3]
        np.testing.assert_array_equal(colorize(values, name), expected)
        scale = Scale("cam" if name == "jet" else "signed" if name == "bwr" else "abs", 0, 1)
        if not scale.signed:
            np.testing.assert_array_equal(scale.colorize(values), expected)


def test_colorbar_runs_through_the_colormap() -> None:
    strip = colorbar("jet", 256, 3)
    assert strip.shape == (3, 256, 3)
    np.testing.assert_array_equal(strip[0], colormap_table("jet"))
    np.testing.assert_array_equal(strip[2], strip[0])


def test_sign_legend_names_the_colour_that_raises_the_score() -> None:
    assert sign_legend("hirescam") == "red: raises the row's class score, blue: lowers it"
    assert sign_legend("gradient", counterfactual=True).startswith("red: lowers")
    # Occlusion's value is S(x) - S(x occluded): red where hiding lowered the score.
    assert sign_legend("occlusion").startswith("red: hiding it lowered the score")
    assert sign_legend("smooth:occlusion") == sign_legend("occlusion")
    assert "argues against" in sign_legend("occlusion", counterfactual=True)


@pytest.mark.parametrize("deflater", ["isal", "zlib"])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (224, 224), (31, 400)])
def test_encode_png_decodes_to_the_same_pixels(
    size: tuple[int, int], deflater, monkeypatch
) -> None:
    if deflater == "zlib":  # the fallback where isal is not installed
        monkeypatch.setattr("seewhy.render.png._isal", None)
    rng = np.random.default_rng(sum(size))
    pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    pixels[: size[0] // 2] = 255  # some flat rows too
    with Image.open(io.BytesIO(encode_png(Image.fromarray(pixels)))) as back:
        assert back.format == "PNG" and back.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(back), pixels)
