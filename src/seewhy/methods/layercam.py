"""LayerCAM (Jiang et al., IEEE TIP 2021, https://doi.org/10.1109/TIP.2021.3089943).

.. math:: L^c = \\mathrm{ReLU}\\Big(\\sum_k \\mathrm{ReLU}(g^k) \\odot A^k\\Big)
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import CamInputs, require_gradients
from seewhy.methods.ops import maybe_relu
from seewhy.methods.registry import register


@register("layercam")
def layercam(inputs: CamInputs, relu: bool = True) -> torch.Tensor:
    """LayerCAM: positive gradients times activations, position by position."""
    gradients = require_gradients(inputs, "layercam")
    positive = torch.clamp(gradients, min=0, out=inputs.workspace)
    cam = positive.mul_(inputs.activations.unsqueeze(1)).sum(dim=2)
    return maybe_relu(cam, relu)
