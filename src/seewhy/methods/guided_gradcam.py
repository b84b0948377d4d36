"""Guided Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391), and its
deconvnet twin.

.. math:: a^c = \\mathrm{GB}^c(x) \\odot \\mathrm{up}\\big(L^c_{\\text{Grad-CAM}}\\big)

the guided backpropagation attribution (B, T, C, H, W) times the raw Grad-CAM map (after its
ReLU, not normalized) upsampled bilinearly (half-pixel centres) to the input, as Captum's
``GuidedGradCam(model, layer).attribute(x, target, interpolate_mode="bilinear")``.
``deconv_gradcam`` uses the deconvnet attribution instead. The option ``cam`` takes any
CAM-family method for the second factor (``"gradcam++"``, ``"layercam"``...) and
``cam_options`` its options. One forward pass serves both factors: the CAM's gradients are
taken with the normal backward, the guided ones with the modified ReLU rule.

Maps: the maximum over channels of the absolute attribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seewhy.errors import MethodError, suggestion
from seewhy.methods.base import (
    InputAttribution,
    InputGradientInputs,
    max_abs_over_channels,
    require_input_gradients,
    to_input_size,
)
from seewhy.methods.registry import get_method, method_names, register, run_method


def check_cam(cam: str) -> None:
    """A MethodError listing the CAM-family methods when ``cam`` is not one of them."""
    names = method_names("cam")
    if not isinstance(cam, str) or cam not in names:
        hint = suggestion(cam, names) if isinstance(cam, str) else ""
        raise MethodError(
            f"cam={cam!r} is not a CAM-family method.{hint} Allowed: {', '.join(names)}"
        )


def cam_product(
    inputs: InputGradientInputs,
    rule: str,
    cam: str,
    cam_options: Mapping[str, Any] | None,
    method: str,
) -> InputAttribution:
    """The ``rule`` input gradients times the CAM map upsampled to the input."""
    check_cam(cam)
    gradients = require_input_gradients(inputs, rule, method)
    if inputs.cam is None:
        raise MethodError(f"{method} needs a layer's activations, but none were captured")
    if get_method(cam).needs_gradients and inputs.cam.gradients is None:
        raise MethodError(f"{method} needs the layer's gradients, but none were computed")
    layer_map = run_method(cam, inputs.cam, dict(cam_options or {}))
    factor = to_input_size(layer_map, inputs.size).unsqueeze(2)  # (B, T, 1, H, W)
    attribution = gradients * factor
    return InputAttribution(attribution, max_abs_over_channels(attribution))


@register("guided_gradcam", family="input", input_rule="guided", uses_layer=True, display="rgb")
def guided_gradcam(
    inputs: InputGradientInputs,
    cam: str = "gradcam",
    cam_options: Mapping[str, Any] | None = None,
) -> InputAttribution:
    """Guided Grad-CAM: guided backprop x Grad-CAM upsampled bilinearly (Selvaraju 2017)."""
    return cam_product(inputs, "guided", cam, cam_options, "guided_gradcam")


@register("deconv_gradcam", family="input", input_rule="deconv", uses_layer=True, display="rgb")
def deconv_gradcam(
    inputs: InputGradientInputs,
    cam: str = "gradcam",
    cam_options: Mapping[str, Any] | None = None,
) -> InputAttribution:
    """Deconvnet x Grad-CAM upsampled bilinearly (the deconvnet twin of guided Grad-CAM)."""
    return cam_product(inputs, "deconv", cam, cam_options, "deconv_gradcam")
