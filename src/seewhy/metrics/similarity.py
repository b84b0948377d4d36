"""How alike two maps are: the similarity measures of Adebayo et al. 2018.

"Sanity Checks for Saliency Maps" (NeurIPS 2018, https://arxiv.org/abs/1810.03292),
section 2.2 and appendix B, compares an explanation of a trained model with one of a
randomised model by

- Spearman's rank correlation of the two maps, signed ("diverging") and of their
  absolute values;
- the structural similarity index (SSIM, Wang et al. 2004), scikit-image's, window 5;
- the Pearson correlation of the two maps' histograms of oriented gradients (HOG,
  Dalal & Triggs 2005), scikit-image's, 16 x 16 pixels per cell.

HOG is computed "without absolute values", on maps scaled to [-1, 1] (appendix B: the HOG
input has "values normalized to [-1, +1]"): each map divided by its largest magnitude, so a
non-negative map lies in [0, 1] and the sign of a signed map is kept. SSIM is computed on
maps min-max scaled to [0, 1], as the authors' code does (``normalize_image`` in
``notebooks/inceptionv3_cascading_randomization.ipynb`` of ``adebayoj/sanity_checks_saliency``:
``ssim(normal_mask_0_1_norm, rand_mask_0_1_norm, ...)``); the appendix names only the window.

Every function takes two ``(N, H, W)`` stacks of maps (tensors or arrays) and returns an
``(N,)`` float64 array, one value per pair; NaN where a correlation is undefined because a
map (or its HOG) is constant.

SSIM and HOG use scikit-image (``pip install seewhy[metrics]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seewhy.errors import OptionError, SeewhyError

__all__ = ["hog_correlation", "scaled", "spearman", "ssim", "unit_range"]

#: SSIM's window side (appendix B: "the skimage SSIM function with a window size of 5").
SSIM_WINDOW = 5
#: HOG's cell side in pixels (appendix B: "a (16, 16) pixels per cell").
HOG_CELL = 16


def _pairs(first: Any, second: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two (N, H, W) float64 arrays of one shape, or an OptionError naming the shapes."""
    a = np.asarray(first.detach().cpu() if hasattr(first, "detach") else first, np.float64)
    b = np.asarray(second.detach().cpu() if hasattr(second, "detach") else second, np.float64)
    if a.ndim == 2 and b.ndim == 2:  # one pair
        a, b = a[None], b[None]
    if a.ndim != 3 or a.shape != b.shape:
        raise OptionError(
            f"similarity needs two stacks of maps of one shape (N, H, W), got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a, b


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``a`` with the same row of ``b``; NaN for a constant row."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / norms
    return np.where(norms > 0, np.clip(r, -1.0, 1.0), np.nan)


def spearman(first: Any, second: Any, *, absolute: bool = False) -> np.ndarray:
    """Spearman's rank correlation of each pair of maps, over their pixels.

    .. math:: \\rho = \\operatorname{corr}(\\operatorname{rank}(a), \\operatorname{rank}(b))

    Pearson's correlation of the pixel ranks, ties given their mean rank (as
    ``scipy.stats.spearmanr``). ``absolute=True`` ranks ``|a|`` and ``|b|``: the paper's
    "Spearman rank correlation with absolute value".
    """
    a, b = _pairs(first, second)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    from scipy.stats import rankdata  # imported here: scipy.stats takes ~0.5 s to import

    count = a.shape[0]
    ranks_a = rankdata(a.reshape(count, -1), axis=1)
    ranks_b = rankdata(b.reshape(count, -1), axis=1)
    return _pearson_rows(ranks_a, ranks_b)


def scaled(maps: Any) -> np.ndarray:
    """Each map divided by its largest magnitude: values in [-1, 1] (an all-zero map stays 0)."""
    array = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, np.float64)
    peak = np.abs(array).reshape(array.shape[0], -1).max(axis=1)
    return array / np.where(peak > 0, peak, 1.0)[:, None, None]


def unit_range(maps: Any) -> np.ndarray:
    """Each map min-max scaled: ``(m - min m) / (max m - min m)``, in [0, 1] (a constant map
    becomes 0)."""
    array = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, np.float64)
    flat = array.reshape(array.shape[0], -1)
    low, span = flat.min(axis=1), np.ptp(flat, axis=1)
    return (array - low[:, None, None]) / np.where(span > 0, span, 1.0)[:, None, None]


def _skimage() -> Any:
    try:
        import skimage.feature
        import skimage.metrics
    except ImportError as error:
        raise SeewhyError(
            "SSIM and HOG similarity need scikit-image, which is not installed: "
            "pip install 'seewhy[metrics]' (or pip install scikit-image)"
        ) from error
    return skimage


def ssim(first: Any, second: Any, *, window: int = SSIM_WINDOW) -> np.ndarray:
    """The structural similarity of each pair of maps, after :func:`unit_range`.

    .. math::
        \\mathrm{SSIM}(a, b) = \\operatorname{mean}_{w}
        \\frac{(2\\mu_a\\mu_b + C_1)(2\\sigma_{ab} + C_2)}
             {(\\mu_a^2 + \\mu_b^2 + C_1)(\\sigma_a^2 + \\sigma_b^2 + C_2)}

    over ``window`` x ``window`` windows ``w`` (uniform weights, scikit-image's
    ``structural_similarity``), with ``C_1 = (0.01 L)^2``, ``C_2 = (0.03 L)^2`` and ``L = 1``,
    the span of the min-max scaled maps (Wang et al. 2004's dynamic range).

    Where the authors' code differs: it weights the windows with a Gaussian (sigma 1.5, 11
    pixels) where appendix B says "a window size of 5", and its scikit-image of 2018 took
    ``L = 2`` from the float dtype, a guess later versions refuse to make; ``L = 2`` on [0, 1]
    maps quadruples the constants and calls unrelated smooth maps alike (the gradient of a
    fully randomised Lite0 against the trained one on ``chelsea``: 0.66 instead of 0.39).
    Min-max rather than max-magnitude scaling matters for a map that is nearly constant: the
    Grad-CAM of a randomised model, all between 0.009 and 0.035, is a flat bright image
    scaled by its maximum (SSIM 0.52 against the trained map) and its own structure
    min-max scaled (0.40).
    """
    a, b = _pairs(first, second)
    if window < 3 or window % 2 == 0 or window > min(a.shape[1:]):
        raise OptionError(
            f"window must be an odd number of pixels, at least 3 and at most the maps' "
            f"shorter side {min(a.shape[1:])}; got {window}"
        )
    metrics = _skimage().metrics
    a, b = unit_range(a), unit_range(b)
    return np.array(
        [
            metrics.structural_similarity(x, y, win_size=window, data_range=1.0)
            for x, y in zip(a, b)
        ],
        dtype=np.float64,
    )


def hog_correlation(first: Any, second: Any, *, cell: int = HOG_CELL) -> np.ndarray:
    """Pearson's correlation of the HOG features of each pair of maps, after :func:`scaled`.

    HOG as scikit-image's ``feature.hog`` with ``pixels_per_cell=(cell, cell)`` and its other
    defaults (9 orientations, 3 x 3 cells per block, L2-Hys block normalisation).
    """
    a, b = _pairs(first, second)
    if cell < 1 or 3 * cell > min(a.shape[1:]):
        raise OptionError(
            f"cell must be at least 1 pixel and a block of 3 x 3 cells must fit in the maps "
            f"({a.shape[1]} x {a.shape[2]}); got {cell}"
        )
    feature = _skimage().feature
    a, b = scaled(a), scaled(b)
    options = {"pixels_per_cell": (cell, cell), "feature_vector": True}
    hogs_a = np.stack([feature.hog(x, **options) for x in a])
    hogs_b = np.stack([feature.hog(y, **options) for y in b])
    return _pearson_rows(hogs_a, hogs_b)
