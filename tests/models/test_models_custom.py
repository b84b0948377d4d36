"""Wrapping your own nn.Module, output selectors and load_model's overrides."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import seewhy
from seewhy.errors import ModelError, OptionError
from seewhy.models import LoadedModel, load_model
from seewhy.models import base as models_base


class TinyNet(nn.Module):
    def __init__(self, mode: str = "tensor") -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)
        self.mode = mode

    def forward(self, x: torch.Tensor):
        features = self.conv(x)
        logits = self.fc(features.mean(dim=(2, 3)))
        if self.mode == "tuple":
            return features, logits
        if self.mode == "dict":
            return {"features": features, "scores_b": logits}
        return logits


def test_wrap_own_module():
    net = TinyNet().train()
    lm = load_model(net)
    assert isinstance(lm, LoadedModel)
    assert lm.module is net and not net.training
    assert lm.name == "TinyNet" and lm.input_size == 224 and lm.labels is None
    assert tuple(lm.mean) == (0.485, 0.456, 0.406)


def test_wrap_with_overrides():
    labels = ["a", "b", "c", "d", "e"]
    lm = load_model(
        TinyNet(),
        labels=labels,
        input_size=64,
        mean=[0.5],
        std=(0.2, 0.3, 0.4),
        device="cpu",
        display_name="tiny",
    )
    assert (lm.name, lm.input_size, lm.labels) == ("tiny", 64, labels)
    assert lm.mean == (0.5, 0.5, 0.5) and lm.std == (0.2, 0.3, 0.4)
    assert lm.preprocess(torch.zeros(80, 100, 3).numpy()).shape == (1, 3, 64, 64)


def test_display_reads_pixels_with_the_io_rule():
    lm = LoadedModel(nn.Identity(), resize=False)
    rgba = np.array([[[255, 0, 0, 128], [1, 2, 3, 255]]], dtype=np.uint8)
    expected = [[[255, 127, 127], [1, 2, 3]]]
    assert lm.display(rgba).tolist() == expected  # alpha composited on white, as files
    assert lm.display(Image.fromarray(rgba, "RGBA")).tolist() == expected
    assert lm.display(np.array([[0, 257 * 100, 65535]], dtype=np.uint16)).tolist() == [
        [[0] * 3, [100] * 3, [255] * 3]
    ]
    assert lm.display(np.array([[-5.0, 100.4, 300.0]])).tolist() == [
        [[0] * 3, [100] * 3, [255] * 3]
    ]


def test_output_selector_for_tuple_and_dict():
    x = torch.randn(2, 3, 16, 16)
    tuple_model = load_model(TinyNet("tuple"), output=1)
    assert tuple_model.select_output(tuple_model.module(x)).shape == (2, 5)
    dict_model = load_model(TinyNet("dict"), output="scores_b")
    assert dict_model.select_output(dict_model.module(x)).shape == (2, 5)
    fn_model = load_model(TinyNet("dict"), output=lambda raw: raw["scores_b"] * 2)
    assert fn_model.select_output(fn_model.module(x)).shape == (2, 5)
    # LoadedModel.wrap reads output= as load_model does (an index was called: TypeError)
    wrapped = LoadedModel.wrap(TinyNet("tuple"), output=1)
    raw = wrapped.module(x)
    assert torch.equal(wrapped.select_output(raw), raw[1])
    for bad in (True, [1], 1.5):  # one check for both: make_selector
        with pytest.raises(ModelError, match="output must be an index, a key"):
            load_model(TinyNet("tuple"), output=bad)
        with pytest.raises(ModelError, match="output must be an index, a key"):
            LoadedModel.wrap(TinyNet("tuple"), output=bad)


def test_own_module_with_checkpoint(tmp_path):
    source = TinyNet()
    path = tmp_path / "tiny.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    lm = load_model(TinyNet(), weights=path)
    assert torch.equal(lm.module.fc.weight, source.fc.weight)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_size": 0}, "input_size"),
        ({"mean": (0.1, 0.2)}, "mean"),
        ({"std": (0, 1, 1)}, "std"),
        ({"output": 1.5}, "output"),
    ],
)
def test_bad_overrides(kwargs, match):
    with pytest.raises(ModelError, match=match):
        load_model(TinyNet(), **kwargs)


def test_labels_must_match_the_class_count():
    with pytest.raises(ModelError, match="labels has 2 names"):
        load_model("efficientnet_lite0", weights="random", labels=["a", "b"])


def test_not_a_model():
    with pytest.raises(ModelError, match="name or an nn.Module"):
        load_model(42)


def test_an_ambiguous_output_without_output_is_an_error_listing_the_choices():
    x = torch.randn(2, 3, 8, 8)
    for mode, choices in (("tuple", "(output=0, output=1)"), ("dict", "(output='features', ")):
        model = load_model(TinyNet(mode))
        with pytest.raises(ModelError, match=re.escape(choices)):
            model.select_output(model.module(x))
    with pytest.raises(ModelError, match=r"tuple \[\[0\] \(2, 4, 8, 8\), \[1\] \(2, 5\)\]"):
        seewhy.Explainer(TinyNet("tuple"), layer="conv").explain(x)


@pytest.mark.parametrize(
    ("mode", "output", "match"),
    [
        ("tuple", 2, r"output=2 names nothing .* Allowed: output=0, output=1\."),
        ("dict", "scores", r"output='scores' names nothing .* Did you mean 'scores_b'\?"),
        ("dict", 0, r"output=0 names nothing"),
        ("tensor", "logits", r"output='logits' names nothing in the model's output Tensor"),
    ],
)
def test_an_output_that_names_nothing_is_an_error_listing_what_there_is(mode, output, match):
    model = load_model(TinyNet(mode), output=output)
    with pytest.raises(ModelError, match=match):
        model.select_output(model.module(torch.randn(2, 3, 8, 8)))


def test_an_output_that_picks_no_tensor_says_so():
    model = load_model(TinyNet("tuple"), output=lambda raw: raw)  # a function is trusted
    assert model.select_output((torch.ones(1), 3)) == (torch.ones(1), 3)
    picked = load_model(TinyNet("dict"), output="name")
    with pytest.raises(ModelError, match="picks a str, not a tensor"):
        picked.select_output({"name": "cat", "scores": torch.ones(1, 2)})


def gray_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 3, 1))


def test_one_channel_mean_and_std_make_the_luma():
    lm = LoadedModel(nn.Identity(), mean=(0.5,), std=(0.25,), resize=False)
    display = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [51, 102, 204]]], np.uint8)
    batch = lm.normalize([display])
    luma = (display / 255.0) @ np.array([0.299, 0.587, 0.114])
    assert batch.shape == (1, 1, 1, 4) and batch.dtype == torch.float32
    np.testing.assert_allclose(batch[0, 0].numpy(), (luma - 0.5) / 0.25, rtol=1e-6)
    assert lm.display(display).shape == (1, 4, 3)  # the display stays RGB
    gray = lm.denormalize(batch)
    assert gray.shape == (1, 1, 4, 3) and (gray == gray[..., :1]).all()
    assert gray[0, 0, :, 0].tolist() == [76, 150, 29, 98]  # round(255 * luma)


def test_a_module_whose_first_convolution_takes_one_channel_is_fed_gray():
    assert models_base.input_channels(gray_net()) == 1
    assert models_base.input_channels(TinyNet()) == 3
    assert models_base.input_channels(nn.Linear(2, 2)) is None
    assert LoadedModel.wrap(TinyNet()).mean == (0.485, 0.456, 0.406)
    wrapped = LoadedModel.wrap(gray_net(), input_size=8)
    assert (wrapped.name, wrapped.mean, wrapped.std) == ("Sequential", (0.459,), (0.2256,))
    lm = load_model(gray_net(), input_size=8)
    assert (lm.mean, lm.std) == ((0.459,), (0.2256,))
    assert lm.preprocess(np.zeros((10, 12, 3), np.uint8)).shape == (1, 1, 8, 8)
    own = load_model(gray_net(), mean=[0.5], std=[0.5])  # one value stays one for 1 channel
    assert (own.mean, own.std) == ((0.5,), (0.5,))


def test_load_model_refuses_a_device_this_machine_lacks():
    with pytest.raises(
        OptionError, match=r"device='gpu' is not a device name; this machine has 'cpu'"
    ):
        load_model(TinyNet(), device="gpu")
