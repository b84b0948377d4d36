"""engine/device.py: device= checked, and the model taken there for a call and back."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seewhy.engine.device import available_devices, placed, resolve_device
from seewhy.errors import OptionError


def test_cpu_is_always_available():
    assert available_devices()[0] == "cpu"
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", "device='gpu' is not a device name; this machine has 'cpu'"),
        ("meta", "device='meta' is not available here; this machine has 'cpu'"),
    ],
)
def test_bad_devices_name_the_value_and_the_choices(device, message):
    with pytest.raises(OptionError, match=message):
        resolve_device(device)


def test_an_absent_gpu_is_refused():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(OptionError, match=rf"device='cuda:{count}' is not available"):
        resolve_device(f"cuda:{count}")
    if not torch.backends.mps.is_available():
        with pytest.raises(OptionError, match="device='mps' is not available"):
            resolve_device("mps")


def test_a_model_already_there_is_not_moved():
    model = nn.Linear(2, 2)
    address = model.weight.data_ptr()
    with placed(model, torch.device("cpu")):
        assert model.weight.data_ptr() == address
    assert model.weight.data_ptr() == address


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_a_model_is_moved_for_the_block_and_back_on_errors():
    model = nn.Linear(2, 2)
    model.weight.grad = torch.ones(2, 2)
    weight, grad = model.weight, model.weight.grad
    with pytest.raises(KeyError), placed(model, torch.device("cuda")):
        assert model.weight.device.type == "cuda"
        raise KeyError
    assert model.weight.device.type == "cpu" and model.weight.grad.device.type == "cpu"
    assert model.weight is weight and model.weight.grad is grad
