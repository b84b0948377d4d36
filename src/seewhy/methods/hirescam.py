"""HiResCAM (Draelos & Carin 2020, https://arxiv.org/abs/2011.08891).

.. math:: L^c = \\sum_k g^k \\odot A^k

Element-wise, with no spatial averaging of the gradients, so the map is faithful to the
model: on a GAP + Linear head it equals CAM (times 1/Z). The map is signed (no ReLU), as the
paper defines it; pytorch-grad-cam applies a ReLU to every map.
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import CamInputs, require_gradients
from seewhy.methods.ops import maybe_relu
from seewhy.methods.registry import register


@register("hirescam")
def hirescam(inputs: CamInputs, relu: bool = False) -> torch.Tensor:
    """HiResCAM: gradients times activations summed over channels, no averaging."""
    gradients = require_gradients(inputs, "hirescam")
    products = torch.mul(gradients, inputs.activations.unsqueeze(1), out=inputs.workspace)
    return maybe_relu(products.sum(dim=2), relu)
