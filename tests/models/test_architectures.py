"""The architectures the README's "Models" table lists: the automatic layer, how its output
is read, and Grad-CAM, CAM and guided backprop from one call (random weights, no download).

The table in README.md is this list; change both together.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import seewhy
from seewhy.engine.layers import auto_layer, probe_layers
from seewhy.models import load_model

slow = pytest.mark.slow

# name, the automatic layer, its reading, whether `cam` runs (GAP + one Linear after it)
ARCHITECTURES = [
    ("efficientnet_lite0", "bn2", "channels-first", True),
    ("resnet18", "layer4", "channels-first", True),
    ("vgg11", "features", "channels-first", False),
    ("densenet121", "features", "channels-first", False),
    ("mobilenet_v3_small", "features", "channels-first", False),
    ("efficientnet_b0", "features", "channels-first", True),
    ("convnext_tiny", "features", "channels-first", False),
    ("regnet_y_400mf", "trunk_output", "channels-first", True),
    pytest.param("inception_v3", "Mixed_7c", "channels-first", True, marks=slow),
    ("googlenet", "inception5b", "channels-first", True),
    ("squeezenet1_0", "classifier.2", "channels-first", False),
    ("shufflenet_v2_x0_5", "conv5", "channels-first", True),
    ("mnasnet0_5", "layers", "channels-first", True),
    pytest.param("maxvit_t", "blocks.3", "channels-first", False, marks=slow),
    pytest.param("vit_b_16", "encoder.layers.encoder_layer_11.ln_1", "tokens", False, marks=slow),
    ("swin_t", "norm", "channels-last", True),
    ("timm:resnet18", "layer4", "channels-first", True),
    ("timm:efficientnet_b0", "bn2", "channels-first", True),
    ("timm:convnext_atto", "norm_pre", "channels-first", False),
    ("timm:regnetz_b16", "final_conv", "channels-first", True),
    ("timm:mobilevit_xxs", "final_conv", "channels-first", True),
    ("timm:vit_tiny_patch16_224", "blocks.11.norm1", "tokens", False),
    ("timm:deit_tiny_distilled_patch16_224", "blocks.11.norm1", "tokens", False),
    pytest.param("timm:beit_base_patch16_224", "blocks.11.norm1", "tokens", False, marks=slow),
    ("timm:eva02_tiny_patch14_224", "blocks.11.norm1", "tokens", False),
    ("timm:swin_tiny_patch4_window7_224", "norm", "channels-last", True),
]


@pytest.mark.parametrize(("name", "layer", "reading", "cam"), ARCHITECTURES)
def test_architecture(name: str, layer: str, reading: str, cam: bool) -> None:
    if name.startswith("timm:"):
        pytest.importorskip("timm")
    torch.manual_seed(0)  # random weights whose maps are checked must not depend on test order
    model = load_model(name, None if name == "efficientnet_lite0" else "random")
    if name == "vit_b_16":  # torchvision starts its head at zero: every gradient would be 0
        torch.nn.init.normal_(model.module.heads.head.weight, std=0.02)
    size = model.input_size
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    assert auto_layer(model.module, x) == layer
    info = {i.name: i for i in probe_layers(model.module, x)}[layer]
    assert info.reading == reading

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", seewhy.SeewhyWarning)
        res = seewhy.Explainer(model).explain(x, ["gradcam", "cam", "guided_backprop"])
    ours = [str(w.message) for w in caught if issubclass(w.category, seewhy.SeewhyWarning)]
    assert ("cam" in res.maps) == cam and ("cam" in res.refused) == (not cam)
    assert ours == ([] if cam else [f"cam was not run: {res.refused['cam']}"])
    assert res.layers["gradcam"] == layer
    gradcam = res.maps["gradcam"]
    assert gradcam.shape == (1, 1, size, size) and gradcam.dtype == torch.float32
    assert torch.isfinite(gradcam).all() and float(gradcam.amax()) > 0
    guided = res.maps["guided_backprop"]
    assert torch.isfinite(guided).all() and float(guided.amax()) > 0
