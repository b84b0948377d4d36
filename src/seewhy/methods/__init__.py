"""Explanation methods: pure functions behind a registry.

Each module registers one method (or a few close variants); importing this package
registers them all. CAM-family methods come first, then the input-space ones.
"""

from seewhy.methods import (  # noqa: F401  (imported to register)
    ablationcam,
    cam,
    eigencam,
    gradcam,
    gradcam_plusplus,
    guided_backprop,
    guided_gradcam,
    hirescam,
    input_x_gradient,
    integrated_gradients,
    layercam,
    occlusion,
    saliency,
    scorecam,
    smoothgrad,
    xgradcam,
)
from seewhy.methods.base import (
    CamInputs,
    ForwardFunction,
    GradientFunction,
    HeadFunction,
    InputAttribution,
    InputGradientInputs,
    LinearHead,
)
from seewhy.methods.registry import MethodSpec, available_methods, get_method, register, run_method

__all__ = [
    "CamInputs",
    "ForwardFunction",
    "GradientFunction",
    "HeadFunction",
    "InputAttribution",
    "InputGradientInputs",
    "LinearHead",
    "MethodSpec",
    "available_methods",
    "get_method",
    "register",
    "run_method",
]
