"""Measures on maps: localization, faithfulness and sanity checks.

>>> from seewhy.metrics import sanity_check
>>> result = sanity_check("efficientnet_lite0", ["cat.jpg"], ["gradcam", "guided_backprop"])
>>> result.summary()["gradcam"]["ssim"]  # one value per randomisation step
"""

from seewhy.metrics.randomize import randomize, sanity_layers
from seewhy.metrics.sanity import SanityResult, sanity_check
from seewhy.metrics.similarity import hog_correlation, spearman, ssim

__all__ = [
    "SanityResult",
    "hog_correlation",
    "randomize",
    "sanity_check",
    "sanity_layers",
    "spearman",
    "ssim",
]
