"""Guided Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391), and its
deconvnet twin.

.. math:: a^c = \\mathrm{GB}^c(x) \\odot \\mathrm{up}\\big(L^c_{\\text{Grad-CAM}}\\big)

the guided backpropagation attribution (B, T, C, H, W) times the raw Grad-CAM map (after its
ReLU, not normalized) upsampled bilinearly (half-pixel centres) to the input, as Captum's
``GuidedGradCam(model, layer).attribute(x, target, interpolate_mode="bilinear")``.
``deconv_gradcam`` uses the deconvnet attribution instead. The option ``cam`` takes any
CAM-family method for the second factor (``"gradcam++"``, ``"layercam"``...) and
``cam_options`` its options. One forward pass serves both factors: the CAM's gradients are
taken with the normal backward, the guided ones with the modified rule at every activation.

Maps: the maximum over channels of the absolute attribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seewhy.errors import MethodError
from seewhy.methods.contract import InputAttribution, InputGradientInputs, require_input_gradients
from seewhy.methods.ops import max_abs_over_channels, to_input_size
from seewhy.methods.registry import get_cam, register, run_method


def cam_product(
    inputs: InputGradientInputs,
    rule: str,
    cam: str,
    cam_options: Mapping[str, Any] | None,
    method: str,
) -> InputAttribution:
    """The ``rule`` input gradients times the CAM map upsampled to the input."""
    spec = get_cam(cam)
    gradients = require_input_gradients(inputs, rule, method)
    if inputs.cam is None:
        raise MethodError(f"{method} needs a layer's activations, but none were captured")
    if spec.needs_gradients and inputs.cam.gradients is None:
        raise MethodError(f"{method} needs the layer's gradients, but none were computed")
    layer_map = run_method(cam, inputs.cam, dict(cam_options or {}))
    factor = to_input_size(layer_map, inputs.size).unsqueeze(2)  # (B, T, 1, H, W)
    attribution = gradients * factor
    return InputAttribution(attribution, max_abs_over_channels(attribution))


@register("guided_gradcam", family="input", input_rule="guided", companion="cam", display="rgb")
def guided_gradcam(
    inputs: InputGradientInputs,
    cam: str = "gradcam",
    cam_options: Mapping[str, Any] | None = None,
) -> InputAttribution:
    """Guided Grad-CAM: guided backprop x Grad-CAM upsampled bilinearly (Selvaraju 2017)."""
    return cam_product(inputs, "guided", cam, cam_options, "guided_gradcam")


@register("deconv_gradcam", family="input", input_rule="deconv", companion="cam", display="rgb")
def deconv_gradcam(
    inputs: InputGradientInputs,
    cam: str = "gradcam",
    cam_options: Mapping[str, Any] | None = None,
) -> InputAttribution:
    """Deconvnet x Grad-CAM upsampled bilinearly (the deconvnet twin of guided Grad-CAM)."""
    return cam_product(inputs, "deconv", cam, cam_options, "deconv_gradcam")
