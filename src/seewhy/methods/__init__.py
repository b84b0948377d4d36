"""Explanation methods: pure functions behind a registry.

Each module registers one method (or a few close variants); importing this package
registers them all. CAM-family methods come first, then the input-space ones. What a
method receives and returns is :mod:`seewhy.methods.contract`; the arithmetic they share
is :mod:`seewhy.methods.ops`.
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
from seewhy.methods.contract import (
    BACKWARD_RULES,
    DISPLAYS,
    CamInputs,
    ForwardFunction,
    GradientFunction,
    HeadFunction,
    InputAttribution,
    InputGradientInputs,
    LinearHead,
    MethodSpec,
    SmoothInputs,
)
from seewhy.methods.registry import (
    available_methods,
    get_method,
    normalize_methods,
    register,
    run_method,
)

__all__ = [
    "BACKWARD_RULES",
    "DISPLAYS",
    "CamInputs",
    "ForwardFunction",
    "GradientFunction",
    "HeadFunction",
    "InputAttribution",
    "InputGradientInputs",
    "LinearHead",
    "MethodSpec",
    "SmoothInputs",
    "available_methods",
    "get_method",
    "normalize_methods",
    "register",
    "run_method",
]
