"""Objectives: the string mini-language, and every index checked against the model."""

from __future__ import annotations

import pytest
import torch

from seewhy.errors import TargetError
from seewhy.synthesis import Channel, Class, Neuron, Unit, parse_objective
from seewhy.synthesis.objectives import as_objective, resolve_objective


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("class:285", Class("285")),  # the id is read by targets.class_index
        ("class:Egyptian cat", Class("Egyptian cat")),
        ("channel:blocks.3:7", Channel("blocks.3", 7)),
        ("neuron:blocks.3:7", Neuron("blocks.3", 7)),
        ("neuron:blocks.3:7:3:4", Neuron("blocks.3", 7, 3, 4)),
        ("unit:classifier:12", Unit("classifier", 12)),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse_objective(text) == expected


def test_a_numeric_class_string_resolves_as_its_id() -> None:
    labels = [f"class {i}" for i in range(300)]
    by_text = resolve_objective(parse_objective("class:285"), (1, 300), labels)
    by_id = resolve_objective(Class(285), (1, 300), labels)
    assert by_text.description == by_id.description == "class 285 (class 285)"
    scores = torch.arange(300.0)
    assert by_text.measure(scores) == by_id.measure(scores) == 285.0


@pytest.mark.parametrize("text", ["class:", "channel:blocks.3", "channel:blocks.3:x", "pixel:1"])
def test_parse_rejects_with_the_allowed_forms(text: str) -> None:
    with pytest.raises(TargetError, match="channel:<layer>:<k>|not an integer"):
        parse_objective(text)


def test_an_int_is_a_class_and_other_values_are_refused() -> None:
    assert as_objective(7) == Class(7)
    with pytest.raises(TargetError, match="an objective must be"):
        as_objective(3.5)  # type: ignore[arg-type]


def test_values_read_the_right_element() -> None:
    feature_map = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    channel = resolve_objective(Channel("f", 1), feature_map.shape, None)
    assert channel.measure(feature_map[0]) == feature_map[0, 1].mean()
    neuron = resolve_objective(Neuron("f", 2), feature_map.shape, None)
    assert neuron.measure(feature_map[1]) == feature_map[1, 2, 2, 2]
    corner = resolve_objective(Neuron("f", 2, 0, 4), feature_map.shape, None)
    assert corner.measure(feature_map[1]) == feature_map[1, 2, 0, 4]
    unit = resolve_objective(Unit("f", 7), feature_map.shape, None)
    assert unit.measure(feature_map[0]) == 7.0
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    labels = ["ant", "bee", "cat"]
    assert resolve_objective(Class("bee"), logits.shape, labels).measure(logits[0]) == 2.0
    logprob = resolve_objective(Class(2, score="logprob"), logits.shape, labels)
    assert torch.isclose(logprob.measure(logits[0]), torch.log_softmax(logits[0], 0)[2])
    assert logprob.description == "class 2 (cat) log-probability"


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (Channel("f", 3), r"channel 3 is out of range: layer 'f' \(channels\) has 3 \(0-2\)"),
        (Neuron("f", 0, 4, 0), "neuron y 4 is out of range"),
        (Unit("f", 60), "unit 60 is out of range"),
        (Class(0), "class objectives need a"),
        # before: the missing coordinate silently became the centre's
        (Neuron("f", 0, 1), r"needs both y and x, or neither \(the centre\); got y=1, x=None"),
        (Neuron("f", 0, x=1), "needs both y and x, or neither"),
    ],
)
def test_out_of_range_names_the_allowed_range(objective: object, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        resolve_objective(objective, (1, 3, 4, 5), None)  # type: ignore[arg-type]


def test_unknown_class_name_suggests_the_closest() -> None:
    with pytest.raises(TargetError, match="Did you mean 'tabby'"):
        resolve_objective(Class("taby"), (1, 3), ["tabby", "tiger", "lion"])
    with pytest.raises(TargetError, match="Unit"):
        resolve_objective(Channel("fc", 0), (1, 3), None)
