"""Measures on maps: localization, faithfulness and sanity checks.

>>> import seewhy
>>> seewhy.metrics.pointing_game(maps, masks)  # doctest: +SKIP
>>> from seewhy.metrics import sanity_check
>>> result = sanity_check("efficientnet_lite0", [seewhy.data.example_image()], ["gradcam"])  # doctest: +SKIP
"""

from seewhy.metrics.localization import (
    BoxAccuracy,
    BoxAccuracyAccumulator,
    PixelAPAccumulator,
    box_accuracy,
    localization_error,
    pixel_average_precision,
)
from seewhy.metrics.pointing import energy_pointing_game, pointing_accuracy, pointing_game
from seewhy.metrics.randomize import randomize, sanity_layers
from seewhy.metrics.sanity import SanityResult, sanity_check
from seewhy.metrics.similarity import hog_correlation, spearman, ssim

__all__ = [
    "BoxAccuracy",
    "BoxAccuracyAccumulator",
    "PixelAPAccumulator",
    "SanityResult",
    "box_accuracy",
    "energy_pointing_game",
    "hog_correlation",
    "localization_error",
    "pixel_average_precision",
    "pointing_accuracy",
    "pointing_game",
    "randomize",
    "sanity_check",
    "sanity_layers",
    "spearman",
    "ssim",
]
