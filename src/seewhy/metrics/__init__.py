"""Measures on maps: localization, faithfulness and sanity checks.

>>> import seewhy.metrics
>>> curves = seewhy.metrics.deletion(lm, x, maps, targets)  # doctest: +SKIP
>>> curves.auc  # (N,)  # doctest: +SKIP
"""

from seewhy.metrics.deletion import CausalCurves, deletion, insertion, rise_blur
from seewhy.metrics.faithfulness import (
    ConfidenceChange,
    average_drop_increase,
    occlusion_correlation,
    occlusion_maps,
)
from seewhy.metrics.imputation import road_impute
from seewhy.metrics.road import RoadScores, road, road_combined

__all__ = [
    "CausalCurves",
    "ConfidenceChange",
    "RoadScores",
    "average_drop_increase",
    "deletion",
    "insertion",
    "occlusion_correlation",
    "occlusion_maps",
    "rise_blur",
    "road",
    "road_combined",
    "road_impute",
]
