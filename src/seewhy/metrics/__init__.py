"""Measures on maps: localization, faithfulness and sanity checks.

>>> import seewhy
>>> seewhy.metrics.pointing_game(maps, masks)  # doctest: +SKIP
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

__all__ = [
    "BoxAccuracy",
    "BoxAccuracyAccumulator",
    "PixelAPAccumulator",
    "box_accuracy",
    "energy_pointing_game",
    "localization_error",
    "pixel_average_precision",
    "pointing_accuracy",
    "pointing_game",
]
