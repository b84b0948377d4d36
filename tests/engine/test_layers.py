"""Choosing and naming layers."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from helpers.models import TinyGapNet, resnet18

import seewhy
from seewhy.engine.layers import auto_layer, get_module, probe_layers


def test_auto_picks_layer4_for_resnet() -> None:
    assert auto_layer(resnet18(), torch.zeros(1, 3, 64, 64)) == "layer4"


def test_auto_picks_the_last_block_before_pooling_for_timm_efficientnet() -> None:
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    assert auto_layer(model, torch.zeros(1, 3, 64, 64)) == "bn2"


def test_auto_never_picks_a_container_that_spans_the_head() -> None:
    model = torch.nn.Sequential(TinyGapNet())  # the whole net is one child of the root
    assert auto_layer(model, torch.zeros(1, 3, 8, 8)) == "0.features"


def test_auto_on_vgg_is_the_features_stack() -> None:
    model = torchvision.models.vgg11(weights=None).eval()
    assert auto_layer(model, torch.zeros(1, 3, 64, 64)) == "features"


def test_probe_reports_shapes_in_order() -> None:
    infos = {
        info.name: info for info in probe_layers(TinyGapNet(channels=6), torch.zeros(1, 3, 8, 8))
    }
    assert infos["features"].shape == (1, 6, 4, 4)
    assert infos["fc"].shape == (1, 5)
    assert infos["features.0"].order < infos["features"].order < infos["fc"].order
    assert not infos["pool"].spatial and infos["features"].spatial


def test_wrong_layer_name_lists_nearest() -> None:
    with pytest.raises(seewhy.LayerError) as error:
        get_module(resnet18(), "layer5")
    assert "layer4" in str(error.value) and "seewhy layers" in str(error.value)


def test_explainer_rejects_wrong_layer_early() -> None:
    with pytest.raises(seewhy.LayerError, match="layer4"):
        seewhy.Explainer(resnet18(), layer="layr4")


def test_layer_with_non_tensor_output_is_refused() -> None:
    class Pair(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return self.conv(x), x

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pair = Pair()
            self.fc = torch.nn.Linear(2, 3)

        def forward(self, x):
            return self.fc(self.pair(x)[0].mean(dim=(2, 3)))

    with pytest.raises(seewhy.LayerError, match="not a tensor"):
        seewhy.Explainer(Net(), layer="pair").explain(torch.zeros(1, 3, 4, 4))


class SharedReLUNet(torch.nn.Module):
    """One ReLU module called after both convolutions, as hand-written nets often do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_auto_skips_a_shared_module_that_runs_more_than_once() -> None:
    model = SharedReLUNet()
    infos = {info.name: info for info in probe_layers(model, torch.zeros(1, 3, 8, 8))}
    assert infos["relu"].calls == 2 and infos["conv2"].calls == 1
    # The shared ReLU finishes last, but the capture refuses a module that runs twice.
    assert auto_layer(model, torch.zeros(1, 3, 8, 8)) == "conv2"
    res = seewhy.Explainer(model).explain(torch.randn(1, 3, 8, 8), ["gradcam"])
    assert res.layers["gradcam"] == "conv2"


@pytest.mark.parametrize("layer", [3, None, torch.nn.Conv2d(3, 4, 1)])
def test_a_layer_that_is_not_a_name_is_a_layer_error(layer: object) -> None:
    with pytest.raises(seewhy.LayerError, match="dotted module name"):
        seewhy.Explainer(resnet18(), layer=layer)  # type: ignore[arg-type]
