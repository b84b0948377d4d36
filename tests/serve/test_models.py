"""The model pool: each model loaded once whatever the threads, names checked, one thread per
model at a time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from torch import nn

import seewhy.serve.models as models_module
from seewhy.models import LoadedModel
from seewhy.serve.models import ModelPool, UnknownName


def tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )  # fmt: skip


@pytest.fixture
def loads(monkeypatch):
    calls = []

    def load_model(name, weights=None):
        calls.append(name if weights is None else (name, weights))
        time.sleep(0.05)  # a slow load: other threads arrive meanwhile
        return LoadedModel.wrap(tiny(), name=name, input_size=16)

    monkeypatch.setattr(models_module, "load_model", load_model)
    return calls


def test_each_model_is_loaded_once_by_concurrent_threads(loads):
    pool = ModelPool(["a", "b"])
    with ThreadPoolExecutor(8) as threads:
        got = list(threads.map(lambda i: pool.get_model("ab"[i % 2]), range(16)))
    assert sorted(loads) == ["a", "b"]
    assert len({id(m) for m in got}) == 2 and pool.loaded("a")


def test_unknown_model_names_the_choices(loads):
    pool = ModelPool(["alpha", "beta"])
    with pytest.raises(UnknownName) as caught:
        pool.get_model("alpah")
    assert caught.value.closest == ["alpha"] and caught.value.choices == ["alpha", "beta"]
    assert "Choose from: alpha, beta" in str(caught.value) and not loads


def test_layers_list_the_map_outputs_and_auto(loads):
    pool = ModelPool(["a"])
    auto, layers = pool.layers("a")
    assert auto == "1"  # the last module with a spatial output: the ReLU
    assert [(c.name, c.shape) for c in layers] == [
        ("0", (4, 16, 16)),
        ("1", (4, 16, 16)),
        ("2", (4, 1, 1)),  # as `seewhy layers` lists it: a 1 x 1 map
    ]
    with pytest.raises(UnknownName, match="unknown layer '3'"):  # Flatten: no map
        pool.explainer("a", "3")
    assert pool.explainer("a", "0") is pool.explainer("a", "0")


def test_one_thread_runs_a_model_at_a_time(loads):
    pool = ModelPool(["a", "b"])
    inside, most = [0], [0]
    lock = threading.Lock()

    def run(_: int) -> None:
        with pool.using(["b", "a"]):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            with lock:
                inside[0] -= 1

    with ThreadPoolExecutor(4) as threads:
        list(threads.map(run, range(8)))
    assert most[0] == 1


def test_a_checkpoint_is_the_operator_s_not_the_client_s(loads):
    pool = ModelPool(["resnet18=weights/my.pth"])
    pool.get_model("resnet18=weights/my.pth")
    assert loads == [("resnet18", "weights/my.pth")]
    with pytest.raises(UnknownName):
        pool.get_model("resnet18=/etc/passwd")
