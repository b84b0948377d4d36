"""What an image is synthesized to maximize: a class, a filter, one neuron or one unit.

Each objective is a small frozen dataclass; :func:`parse_objective` reads the same thing
from a string, for the command line and for quick calls::

    Class(285)                   "class:285"        "class:Egyptian cat"
    Channel("blocks.3", 7)       "channel:blocks.3:7"
    Neuron("blocks.3", 7)        "neuron:blocks.3:7"       (centre neuron)
    Neuron("blocks.3", 7, 3, 4)  "neuron:blocks.3:7:3:4"   (y=3, x=4)
    Unit("classifier", 12)       "unit:classifier:12"

An objective is resolved once against the shapes the model produces
(:func:`resolve_objective`), which checks every index and gives a
:class:`ResolvedObjective` that measures one image's value from its layer output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from seewhy.engine.targets import class_index
from seewhy.errors import TargetError

__all__ = [
    "Channel",
    "Class",
    "Neuron",
    "Objective",
    "ObjectiveSpec",
    "ResolvedObjective",
    "Unit",
    "as_objective",
    "parse_objective",
    "resolve_objective",
]

FORMS = (
    "'class:<id or label name>', 'channel:<layer>:<k>', 'neuron:<layer>:<k>[:<y>:<x>]' "
    "or 'unit:<layer>:<i>'"
)


@dataclass(frozen=True)
class Class:
    """The score of class ``target`` (an id or a label name), as the network outputs it.

    With ``score="logit"`` the objective is the pre-softmax score :math:`S_c(I)` maximized by
    class-model visualization (Simonyan et al. 2014, https://arxiv.org/abs/1312.6034);
    ``"logprob"`` maximizes :math:`\\log p_c = S_c - \\log\\sum_j e^{S_j}`, which also pushes
    the other classes down.
    """

    target: int | str
    score: Literal["logit", "logprob"] = "logit"


@dataclass(frozen=True)
class Channel:
    """One filter of a layer: the mean of its feature map, :math:`\\frac{1}{hw}\\sum_{ij} a^k_{ij}`.

    Erhan et al. 2009 (activation maximization) maximize the sum :math:`\\sum_{ij} a^k_{ij}`;
    the mean has the same maximizer and keeps penalty weights independent of the layer's size.
    """

    layer: str
    channel: int


@dataclass(frozen=True)
class Neuron:
    """One spatial position of one filter, :math:`a^k_{yx}`; the centre of the map by default."""

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None


@dataclass(frozen=True)
class Unit:
    """One unit of a layer's output, flattened per image (a fully connected layer's neuron)."""

    layer: str
    index: int


Objective = Class | Channel | Neuron | Unit
#: An objective, its string form, or a class id.
ObjectiveSpec = Objective | str | int


def _integer(text: str, what: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TargetError(f"{what} {text!r} in objective {spec!r} is not an integer") from None


def parse_objective(spec: str) -> Objective:
    """An objective from its string form; see the module docstring for the forms."""
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    parts = [part.strip() for part in rest.split(":")]
    if kind == "class" and rest.strip():
        text = rest.strip()
        return Class(text)  # a numeric string is a class id: class_index reads it
    if kind == "channel" and len(parts) == 2 and parts[0]:
        return Channel(parts[0], _integer(parts[1], "channel", spec))
    if kind == "neuron" and len(parts) in (2, 4) and parts[0]:
        channel = _integer(parts[1], "channel", spec)
        if len(parts) == 2:
            return Neuron(parts[0], channel)
        return Neuron(
            parts[0], channel, _integer(parts[2], "y", spec), _integer(parts[3], "x", spec)
        )
    if kind == "unit" and len(parts) == 2 and parts[0]:
        return Unit(parts[0], _integer(parts[1], "unit", spec))
    raise TargetError(f"objective {spec!r} is not understood; use {FORMS}")


def as_objective(spec: ObjectiveSpec) -> Objective:
    """``spec`` as an objective dataclass: strings are parsed, an int is a class id."""
    if isinstance(spec, (Class, Channel, Neuron, Unit)):
        return spec
    if isinstance(spec, str):
        return parse_objective(spec)
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Class(spec)
    raise TargetError(
        f"an objective must be Class, Channel, Neuron, Unit, a class id or a string such as "
        f"{FORMS}; got {spec!r}"
    )


def layer_of(objective: Objective) -> str | None:
    """The layer whose output the objective reads; None for the model's output."""
    return None if isinstance(objective, Class) else objective.layer


@dataclass(frozen=True)
class ResolvedObjective:
    """An objective checked against the model.

    Attributes:
        objective: what was asked for.
        layer: the layer it reads, or None for the model's class scores.
        description: e.g. ``"class 285 (Egyptian cat)"`` or ``"channel 7 of blocks.3"``.
        measure: maps one image's layer output (no batch dimension) to a scalar.
    """

    objective: Objective
    layer: str | None
    description: str
    measure: Callable[[torch.Tensor], torch.Tensor]


def _check_index(value: int, size: int, what: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise TargetError(f"{what} {value!r} is out of range: {where} has {size} (0-{size - 1})")


def resolve_objective(
    objective: Objective, shape: Sequence[int], labels: Sequence[str] | None
) -> ResolvedObjective:
    """Check ``objective`` against its layer's output ``shape`` (batch first) and resolve it.

    Raises:
        TargetError: an index out of range, an unknown class name, or a layer whose output
            has the wrong number of dimensions for the objective.
    """
    layer = layer_of(objective)
    where = f"layer {layer!r}" if layer is not None else "the model's output"
    per_image = tuple(shape[1:])
    if isinstance(objective, Class):
        if len(per_image) != 1:
            raise TargetError(
                f"class objectives need a (B, classes) output; the model returns shape "
                f"{tuple(shape)}. Use Unit(layer, index) instead"
            )
        index = class_index(objective.target, per_image[0], labels)
        if objective.score not in ("logit", "logprob"):
            raise TargetError(f"score={objective.score!r} is not allowed; use 'logit' or 'logprob'")
        name = f" ({labels[index]})" if labels else ""
        suffix = " log-probability" if objective.score == "logprob" else ""
        if objective.score == "logprob":
            return ResolvedObjective(
                objective,
                None,
                f"class {index}{name}{suffix}",
                lambda out: torch.log_softmax(out, dim=0)[index],
            )
        return ResolvedObjective(objective, None, f"class {index}{name}", lambda out: out[index])
    if isinstance(objective, Unit):
        units = 1
        for size in per_image:
            units *= size
        _check_index(objective.index, units, "unit", f"{where} (flattened)")
        index = objective.index
        return ResolvedObjective(
            objective, layer, f"unit {index} of {layer}", lambda out: out.reshape(-1)[index]
        )
    if len(per_image) != 3:
        raise TargetError(
            f"{type(objective).__name__} needs a (B, C, h, w) output but {where} gives shape "
            f"{tuple(shape)}; use Unit({layer!r}, index) for a flat output"
        )
    channels, height, width = per_image
    _check_index(objective.channel, channels, "channel", f"{where} (channels)")
    channel = objective.channel
    if isinstance(objective, Channel):
        return ResolvedObjective(
            objective, layer, f"channel {channel} of {layer}", lambda out: out[channel].mean()
        )
    if (objective.y is None) != (objective.x is None):
        raise TargetError(
            f"a neuron needs both y and x, or neither (the centre); got y={objective.y!r}, "
            f"x={objective.x!r}"
        )
    y = height // 2 if objective.y is None else objective.y
    x = width // 2 if objective.x is None else objective.x
    _check_index(y, height, "neuron y", f"{where} (rows)")
    _check_index(x, width, "neuron x", f"{where} (columns)")
    return ResolvedObjective(
        objective,
        layer,
        f"neuron {channel} (y={y}, x={x}) of {layer}",
        lambda out: out[channel, y, x],
    )
