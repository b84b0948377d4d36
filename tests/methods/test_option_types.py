"""seewhy.methods.option_types: option values checked against the methods' declared types."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from seewhy.errors import MethodError, OptionError
from seewhy.methods.registry import normalize_methods, option_types, resolved_options


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ({"gradcam": {"relu": "false"}}, "option 'relu' of 'gradcam' must be bool, got 'false'"),
        ({"gradcam": {"relu": 1}}, "must be bool, got 1 (int)"),
        ({"occlusion": {"window": (16, 8, 4)}}, "must be int | tuple[int, int]"),
        ({"occlusion": {"window": True}}, "must be int | tuple[int, int], got True"),
        ({"scorecam": {"batch_size": 2.5}}, "must be int | None, got 2.5"),
        ({"smooth:gradcam": {"n": "4"}}, "option 'n' of 'smooth:gradcam' must be int"),
        ({"smooth:gradcam": {"relu": "no"}}, "option 'relu' of 'smooth:gradcam' must be bool"),
        ({"occlusion": {"baseline": float("nan")}}, "'baseline' of 'occlusion' must be finite"),
        ({"smoothgrad": {"noise": float("inf")}}, "'noise' of 'smoothgrad' must be finite"),
        (
            {"guided_gradcam": {"cam": "hirescam", "cam_options": {"relu": "false"}}},
            "option 'relu' of 'hirescam' must be bool, got 'false'",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_type(methods, message) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        normalize_methods(methods)


@pytest.mark.parametrize(
    "methods",
    [
        {"gradcam": {"relu": np.bool_(False)}},
        {"xgradcam": {"eps": 1}},  # an int is a float
        {"occlusion": {"window": [16, 8], "stride": np.int64(8), "baseline": "blur"}},
        {"integrated_gradients": {"baseline": torch.zeros(3, 4, 4), "steps": 8}},
        {"smooth:gradcam": {"relu": False, "n": 4, "noise": 0.1, "seed": None}},
        {"guided_gradcam": {"cam": "gradcam++", "cam_options": {"relu": True}}},
    ],
)
def test_values_of_the_declared_types_pass(methods) -> None:
    assert normalize_methods(methods) == methods


def test_smooth_options_are_the_method_s_then_the_wrapper_s() -> None:
    types = option_types("smooth:xgradcam")
    assert list(types) == ["relu", "eps", "n", "noise", "seed", "batch_size", "noise_tensors"]
    assert types["relu"] is bool and types["n"] is int
    with pytest.raises(MethodError, match="Did you mean 'relu'"):
        normalize_methods({"smooth:gradcam": {"rlu": True}})


def test_resolved_options_add_every_default() -> None:
    assert resolved_options("gradcam", {}) == {"relu": True}
    assert resolved_options("xgradcam", {"eps": 1e-3}) == {"relu": True, "eps": 1e-3}
    assert resolved_options("smooth:gradcam", {"n": 2}) == {
        "relu": True,
        "n": 2,
        "noise": 0.15,
        "seed": None,
        "batch_size": None,
        "noise_tensors": None,
    }
