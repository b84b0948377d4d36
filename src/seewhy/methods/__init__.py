"""Explanation methods: pure functions behind a registry.

Each module registers one method; importing this package registers them all.
"""

from seewhy.methods import (  # noqa: F401  (imported to register)
    cam,
    eigencam,
    gradcam,
    gradcam_plusplus,
    hirescam,
    layercam,
    xgradcam,
)
from seewhy.methods.base import CamInputs, LinearHead
from seewhy.methods.registry import MethodSpec, available_methods, get_method, register, run_method

__all__ = [
    "CamInputs",
    "LinearHead",
    "MethodSpec",
    "available_methods",
    "get_method",
    "register",
    "run_method",
]
