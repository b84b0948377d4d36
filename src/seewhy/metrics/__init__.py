"""Measures on maps: localization, faithfulness and sanity checks.

>>> import seewhy
>>> seewhy.metrics.pointing_game(maps, masks)  # doctest: +SKIP
>>> from seewhy.metrics import sanity_check
>>> result = sanity_check("efficientnet_lite0", [seewhy.data.example_image()], ["gradcam"])  # doctest: +SKIP
"""

from seewhy.metrics.deletion import CausalCurves, deletion, insertion, rise_blur
from seewhy.metrics.faithfulness import (
    ConfidenceChange,
    average_drop_increase,
    occlusion_correlation,
    occlusion_maps,
)
from seewhy.metrics.imputation import road_impute
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
from seewhy.metrics.road import RoadScores, road, road_combined
from seewhy.metrics.sanity import SanityResult, sanity_check
from seewhy.metrics.similarity import hog_correlation, spearman, ssim

__all__ = [
    "BoxAccuracy",
    "BoxAccuracyAccumulator",
    "CausalCurves",
    "ConfidenceChange",
    "PixelAPAccumulator",
    "RoadScores",
    "SanityResult",
    "average_drop_increase",
    "box_accuracy",
    "deletion",
    "energy_pointing_game",
    "hog_correlation",
    "insertion",
    "localization_error",
    "occlusion_correlation",
    "occlusion_maps",
    "pixel_average_precision",
    "pointing_accuracy",
    "pointing_game",
    "randomize",
    "rise_blur",
    "road",
    "road_combined",
    "road_impute",
    "sanity_check",
    "sanity_layers",
    "spearman",
    "ssim",
]
