"""torchvision and timm models: random, checkpoint and (offline) pretrained weights."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

from seewhy.errors import ModelError
from seewhy.models import load_model, resolve


@pytest.fixture(scope="module")
def resnet18_state():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).state_dict()


def assert_same(module: torch.nn.Module, state: dict) -> None:
    loaded = module.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_torchvision_random():
    lm = load_model("resnet18", weights="random")
    assert isinstance(lm.module, torchvision.models.ResNet)
    assert lm.extra["source"] == "torchvision"
    assert len(lm.labels) == 1000 and lm.labels[285] == "Egyptian cat"
    assert (lm.input_size, tuple(lm.mean)) == (224, (0.485, 0.456, 0.406))
    assert not lm.module.training


def test_torchvision_size_from_weights_metadata():
    assert load_model("efficientnet_b3", weights="random").input_size == 300


def test_checkpoint_round_trip(tmp_path, resnet18_state):
    path = tmp_path / "r18.pth"
    torch.save(resnet18_state, path)
    lm = load_model("resnet18", weights=str(path))
    assert_same(lm.module, resnet18_state)
    assert lm.extra["weights"] == str(path)


@pytest.mark.parametrize("wrap", ["module_prefix", "state_dict_key", "model_key"])
def test_checkpoint_layouts(tmp_path, resnet18_state, wrap):
    if wrap == "module_prefix":
        saved = {f"module.{k}": v for k, v in resnet18_state.items()}
    elif wrap == "state_dict_key":
        saved = {"state_dict": resnet18_state, "epoch": 3}
    else:
        saved = {"model": {f"module.{k}": v for k, v in resnet18_state.items()}}
    path = tmp_path / "ckpt.pt"
    torch.save(saved, path)
    assert_same(load_model("resnet18", weights=path).module, resnet18_state)


def test_missing_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "nowhere.pth"
    with pytest.raises(ModelError, match="nowhere.pth.*does not exist"):
        load_model("resnet18", weights=path)


def test_mismatched_checkpoint_names_the_file(tmp_path, resnet18_state):
    path = tmp_path / "wrong.pth"
    torch.save(resnet18_state, path)
    with pytest.raises(ModelError, match=r"wrong\.pth.*does not fit.*(missing|unexpected) keys"):
        load_model("resnet34", weights=path)


def test_unreadable_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="could not read checkpoint.*junk.pth"):
        load_model("resnet18", weights=path)


def test_class_count_from_checkpoint_or_labels(tmp_path):
    state = torchvision.models.resnet18(weights=None, num_classes=10).state_dict()
    path = tmp_path / "ten.pth"
    torch.save(state, path)
    lm = load_model("resnet18", weights=path)
    assert lm.module.fc.out_features == 10 and lm.labels is None
    named = load_model("resnet18", weights=path, labels=[str(i) for i in range(10)])
    assert named.labels[3] == "3"
    assert load_model("resnet18", weights="random", labels=["a", "b"]).module.fc.out_features == 2


def test_timm_random():
    lm = load_model("test_resnet", weights="random")
    assert lm.extra["source"] == "timm"
    config = timm.data.resolve_data_config({}, model=lm.module)
    assert lm.input_size == config["input_size"][-1]
    assert tuple(lm.mean) == tuple(config["mean"])
    out = lm.module(torch.zeros(1, 3, lm.input_size, lm.input_size))
    assert out.shape == (1, 1000) and len(lm.labels) == 1000


def test_prefix_forces_the_source():
    assert resolve("resnet18") == ("torchvision", "resnet18")
    assert resolve("timm:resnet18") == ("timm", "resnet18")
    assert resolve("tv:resnet18") == ("torchvision", "resnet18")
    lm = load_model("timm:resnet18", weights="random")
    assert isinstance(lm.module, timm.models.ResNet)
    assert lm.extra["source"] == "timm"


def test_unknown_name_suggests():
    with pytest.raises(ModelError, match="unknown model 'resnet5O'") as info:
        load_model("resnet5O")
    assert "resnet50" in str(info.value) and "seewhy models" in str(info.value)
    with pytest.raises(
        ModelError, match="unknown torchvision model 'convnext_tinny'.*convnext_tiny"
    ):
        load_model("tv:convnext_tinny")


def test_failed_download_is_a_model_error(monkeypatch):
    def offline(*args, **kwargs):
        if kwargs.get("weights") is not None or kwargs.get("pretrained"):
            raise OSError("Name or service not known")
        raise AssertionError("unexpected call")

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    monkeypatch.setattr(timm, "create_model", offline)
    for name in ("resnet18", "timm:resnet18"):
        with pytest.raises(ModelError, match="could not download.*weights=PATH.*'random'"):
            load_model(name)


def test_bad_weights_type():
    with pytest.raises(ModelError, match="weights must be"):
        load_model("resnet18", weights=3)
