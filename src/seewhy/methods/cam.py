"""CAM: Class Activation Mapping (Zhou et al., CVPR 2016, https://arxiv.org/abs/1512.04150).

.. math:: L^c = \\sum_k w^c_k A^k

where ``w^c`` is the row of class ``c`` in the single Linear layer that follows global average
pooling of ``A``. Defined only for such heads; no gradients, no ReLU (the map is signed).
Elsewhere it raises :class:`~seewhy.errors.MethodRefusal`: the call skips ``cam`` with that
reason and produces the other methods' maps. A callable target is an error of the call
(:class:`~seewhy.errors.MethodError`): CAM needs class indices to pick the weights.
"""

from __future__ import annotations

import torch

from seewhy.errors import MethodError, MethodRefusal
from seewhy.methods.contract import CamInputs
from seewhy.methods.ops import weighted_sum
from seewhy.methods.registry import register


@register("cam", needs_gradients=False, needs_head=True)
def cam(inputs: CamInputs) -> torch.Tensor:
    """Class activation mapping: the Linear head's class weights over the layer's channels."""
    if inputs.head is None:  # the model's shape, not the caller's mistake: refuse cam only
        raise MethodRefusal(
            f"cam needs a head of global average pooling followed by one Linear layer right "
            f"after layer {inputs.layer!r}, and this model's output is not that (a ReLU, a norm "
            "or several Linear layers after the pooling, or pooling of something else); "
            "gradcam needs no such head and equals CAM on one"
        )
    if (inputs.targets < 0).any():  # the caller's targets: an error of the call
        raise MethodError("cam explains class indices only, not callable targets")
    weights = inputs.head.weight.to(inputs.activations)[inputs.targets]  # (B, T, K)
    return weighted_sum(weights, inputs.activations)
