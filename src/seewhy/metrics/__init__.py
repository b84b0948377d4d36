"""Measures on maps: localization, faithfulness and sanity checks.

>>> import seewhy
>>> seewhy.metrics.pointing_game(maps, masks)  # doctest: +SKIP
>>> from seewhy.metrics import sanity_check
>>> result = sanity_check("efficientnet_lite0", [seewhy.data.example_image()], ["gradcam"])  # doctest: +SKIP

The names load on first use (PEP 562): importing one submodule, as the command line's
parsers do for their choices, does not import SciPy's sparse solvers and the rest.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

#: Each public name and the submodule that defines it.
_HOMES = {
    "deletion": ("CausalCurves", "deletion", "insertion", "rise_blur"),
    "faithfulness": (
        "ConfidenceChange",
        "average_drop_increase",
        "occlusion_correlation",
        "occlusion_maps",
    ),
    "imputation": ("road_impute",),
    "localization": (
        "BoxAccuracy",
        "BoxAccuracyAccumulator",
        "PixelAPAccumulator",
        "box_accuracy",
        "localization_error",
        "pixel_average_precision",
    ),
    "pointing": ("energy_pointing_game", "pointing_accuracy", "pointing_game"),
    "randomize": ("randomize", "sanity_layers"),
    "road": ("RoadScores", "road", "road_combined"),
    "sanity": ("SanityResult", "sanity_check"),
    "similarity": ("hog_correlation", "spearman", "ssim"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'seewhy.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"seewhy.metrics.{home}"), name)
    globals()[name] = value  # later reads skip this function
    return value


class _Package(types.ModuleType):
    """The package, whose functions keep their names when the submodule of the same name
    (``deletion``, ``randomize``, ``road``) is imported: importing a submodule binds it on
    its package, which would otherwise hide the function."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOME_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# the same names as _HOMES (tests/metrics/test_init.py)
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
