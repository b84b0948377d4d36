"""engine/inputs.py: the model called in its own dtype, with its other inputs."""

from __future__ import annotations

import pytest
import torch
from helpers.multi_input import TinyVQA
from torch import nn

from seewhy.engine.inputs import (
    NO_ARGS,
    ForwardArgs,
    as_float32,
    call_model,
    model_dtype,
    tolerance,
)
from seewhy.engine.layers import auto_layer
from seewhy.engine.layout import forward_input
from seewhy.errors import ModelError, OptionError


def test_per_image_values_are_told_from_constant_ones():
    per_image, row, scalar = torch.arange(8).view(4, 2), torch.ones(1, 3), torch.tensor(2.0)
    extra = ForwardArgs.of((per_image, row, scalar, "mode"), {"mask": per_image, "k": 3}, 4)
    assert extra.per_image == {0, "mask"}
    chunk = extra.images(1, 3)
    assert chunk.args[0].tolist() == [[2, 3], [4, 5]] and chunk.kwargs["mask"].tolist() == [
        [2, 3],
        [4, 5],
    ]
    assert chunk.args[1] is row and chunk.args[2] is scalar and chunk.args[3] == "mode"
    copies = chunk.rows(torch.tensor([1, 1, 0]))
    assert copies.args[0].tolist() == [[4, 5], [4, 5], [2, 3]]
    assert copies.kwargs["k"] == 3


def test_a_bare_tensor_is_one_argument_and_none_is_no_argument():
    question = torch.zeros(2, 4)
    assert ForwardArgs.of(question, None, 2).args == (question,)
    assert not ForwardArgs.of(None, None, 2) and ForwardArgs.of(None, None, 2) == NO_ARGS


def test_a_tensor_with_another_first_dimension_is_refused():
    with pytest.raises(OptionError, match=r"forward_args\[1\].*\(3, 2\).*\(3\).*images \(4\)"):
        ForwardArgs.of((torch.zeros(4), torch.zeros(3, 2)), None, 4)
    with pytest.raises(OptionError, match="forward_kwargs keys must be argument names"):
        ForwardArgs.of((), {1: 2}, 4)


class Recorder(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, dtype=dtype))
        self.seen: list[tuple] = []

    def forward(self, x, tokens, mask=None):
        self.seen.append((x.dtype, tokens.dtype, None if mask is None else mask.dtype))
        return (x * self.weight).sum(dim=(1, 2, 3))[:, None]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_inputs_are_cast_to_the_model_dtype_and_gradients_come_back(dtype):
    model = Recorder(dtype)
    extra = ForwardArgs.of((torch.ones(2, 3, dtype=torch.long),), {"mask": torch.ones(2, 3)}, 2)
    x, output = forward_input(model, torch.full((2, 1, 2, 2), 0.5), extra=extra)
    assert model.seen[-1] == (dtype, torch.long, dtype) and output.dtype == dtype
    output.sum().backward()
    assert x.dtype == x.grad.dtype == torch.float32 and x.grad.eq(1).all()
    assert model_dtype(model) == dtype and model.weight.dtype == dtype


def test_model_dtype_and_float32():
    assert model_dtype(nn.ReLU()) == torch.float32
    assert model_dtype(nn.BatchNorm2d(2).double()) == torch.float64
    half = torch.ones(2, dtype=torch.float16)
    assert as_float32(half).dtype == torch.float32
    same = torch.ones(2)
    assert (
        as_float32(same) is same and as_float32(torch.ones(2, dtype=torch.long)).dtype == torch.long
    )
    assert tolerance(torch.float32) == 1e-4
    assert tolerance(torch.float16) == pytest.approx(8 * 2**-10)
    assert tolerance(torch.bfloat16) == pytest.approx(8 * 2**-7)


def test_a_rejected_call_names_what_was_passed():
    extra = ForwardArgs.of((torch.zeros(2, 4, dtype=torch.long), 7), None, 2)
    with pytest.raises(
        ModelError, match=r"\(2, 3, 8, 8\) float32 and forward_args=\(tensor \(2, 4\) int64, int\)"
    ):
        call_model(nn.Conv2d(3, 1, 1), torch.zeros(2, 3, 8, 8), extra)


class NoHalf(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, dtype=torch.float16))

    def forward(self, x):
        raise RuntimeError("\"some_kernel_cpu\" not implemented for 'Half'")


def test_an_operation_missing_in_the_dtype_is_a_model_error():
    with pytest.raises(
        ModelError, match=r"NoHalf runs in float16.*no float16 kernel on cpu.*float32"
    ):
        forward_input(NoHalf(), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ModelError, match=r"no float16 kernel"):
        auto_layer(NoHalf(), torch.zeros(1, 3, 4, 4))
    with pytest.raises(RuntimeError, match=r"not implemented for 'Half'"):
        call_model(NoHalf(), torch.zeros(1, 3, 4, 4), last_try=False)


def test_auto_layer_probes_with_the_other_inputs():
    extra = ForwardArgs.of((torch.zeros(1, 4, dtype=torch.long),), None, 1)
    assert auto_layer(TinyVQA(), torch.zeros(1, 3, 16, 16), extra) == "features"
    with pytest.raises(ModelError, match="forward_args="):
        auto_layer(TinyVQA(), torch.zeros(1, 3, 16, 16))
