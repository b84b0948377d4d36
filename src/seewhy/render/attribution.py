"""Drawing input-space attributions: gradient images, magnitude heatmaps, signed maps.

Pure functions over NumPy arrays (torch tensors are accepted and moved to the CPU), PIL
images out, no pyplot state. :func:`render_panel` picks the drawing for a method's
``display`` kind, so the figure shows CAM and input-space methods side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from seewhy.errors import OptionError
from seewhy.io.rgb import as_rgb_uint8
from seewhy.methods.contract import DISPLAYS
from seewhy.render.overlay import (
    as_heat,
    blend,
    colorize,
    finite,
    percentile_scale,
    resize_map,
    to_numpy,
)
from seewhy.render.scale import Scale, scale_of

__all__ = ["gradient_image", "magnitude_heatmap", "render_panel", "percentile_scale"]


def gradient_image(attribution: Any, std_scale: float = 0.1) -> Image.Image:
    """An attribution (C, H, W) drawn as an image, as the guided-backprop figures.

    Per image: subtract the mean, divide by the standard deviation, multiply by
    ``std_scale`` (0.1) and add 0.5, clip to [0, 1]; so 0 is mid-grey and +-5 standard
    deviations reach black and white (the ``deprocess_image`` of the Grad-CAM authors'
    code). One channel gives a grey image, three an RGB one. Their code adds 1e-5 to the
    standard deviation, which greys out attributions whose spread is that small (guided
    Grad-CAM on an untrained ViT: about 1e-8); here only a constant attribution is grey.
    """
    a = finite(to_numpy(attribution).astype(np.float64))
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise OptionError(f"attribution must be (C, H, W) with C = 1 or 3, got {tuple(a.shape)}")
    a = np.moveaxis(a, 0, -1)
    spread = a.std()
    a = (a - a.mean()) / spread if spread > 0 else np.zeros_like(a)
    a = np.clip(a * std_scale + 0.5, 0.0, 1.0)
    return Image.fromarray(as_rgb_uint8(np.rint(a * 255.0).astype(np.uint8)))


def magnitude_heatmap(
    heat: Any,
    size: tuple[int, int] | None = None,
    cmap: str = "gray",
    clip_percentile: float = 99.0,
) -> Image.Image:
    """``|heat|`` divided by its ``clip_percentile`` percentile, clipped to [0, 1], coloured.

    The grey default draws saliency maps as Simonyan et al. and Smilkov et al. do; the
    percentile keeps a few extreme pixels from washing the rest out.
    """
    h = as_heat(heat)
    scale = percentile_scale(h, clip_percentile)
    h = np.clip(np.abs(h) / scale, 0.0, 1.0) if scale > 0.0 else np.zeros_like(h)
    if size is not None:
        h = resize_map(h, size)
    return Image.fromarray(colorize(h, cmap))


def render_panel(
    image: Any,
    heat: Any,
    kind: str = "cam",
    attribution: Any | None = None,
    alpha: float = 0.5,
    clip_percentile: float = 99.0,
    scale: Scale | None = None,
) -> Image.Image:
    """One figure panel for a method's map, drawn by its kind, in ``scale``'s colours.

    - ``"cam"``: jet heatmap over the photo, as the CAM papers; on the diverging ``bwr``
      map instead when ``scale`` is signed (HiResCAM, ``relu=False``).
    - ``"abs"``: grey magnitude heatmap (saliency, SmoothGrad).
    - ``"signed"``: diverging ``bwr`` overlay, 0 white (gradient, input x gradient,
      integrated gradients, occlusion).
    - ``"rgb"``: the attribution (C, H, W) as a gradient image (guided backprop, deconvnet,
      guided Grad-CAM); the magnitude heatmap when no attribution (C, H, W) with C = 1
      or 3 is given.

    Without ``scale`` the map is drawn on its own scale (:func:`~seewhy.render.scale_of`:
    ``0 .. max`` for a CAM, signed when it has negative values; ``clip_percentile`` of
    ``|heat|`` for input-space maps).
    """
    photo = as_rgb_uint8(image)
    if kind not in DISPLAYS:
        raise OptionError(f"kind must be one of {', '.join(DISPLAYS)}, got {kind!r}")
    channels = None if attribution is None else to_numpy(attribution).shape[0]
    if kind == "rgb" and channels in (1, 3):
        drawn = gradient_image(attribution)
        if drawn.size != (photo.shape[1], photo.shape[0]):
            drawn = drawn.resize((photo.shape[1], photo.shape[0]), Image.Resampling.BILINEAR)
        return drawn
    h = as_heat(heat)
    if kind == "rgb":
        kind = "abs"
    if scale is None:
        signed = kind == "cam" and bool((h < 0).any())
        scale = scale_of(h, kind, signed, clip_percentile)
    assert scale is not None  # only "rgb" has no scale
    colored = scale.colorize(resize_map(h, photo.shape[:2]))
    if scale.kind == "abs":
        return Image.fromarray(colored)
    return blend(photo, colored, alpha)
