"""Which layers the model parameter randomisation test re-initialises, in what order, and how.

Adebayo et al. 2018 (https://arxiv.org/abs/1810.03292) re-initialise Inception v3 "on a
per-block basis": the logits, then each mixed block, then each stem convolution, "all the
filter weights, biases, and batch-norm variables" of a block at once (17 phases), with "a
truncated normal distribution". Their code re-runs the initialisers of the block's
*trainable* variables (``tf.initialize_variables``): a BatchNorm's shift (and scale, where it
is trainable) returns to its initial value, while its moving mean and variance, which are not
trainable, keep the trained values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from seewhy.engine.layers import get_module
from seewhy.errors import LayerError, OptionError

__all__ = ["INITS", "Step", "randomize", "restore", "sanity_layers", "snapshot_step", "steps_of"]

#: The module names re-initialised together in one step of the test.
Step = tuple[str, ...]
#: How the weights are drawn; see :func:`randomize`.
INITS = ("normal", "reset")

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_NORMS = (_NormBase, nn.GroupNorm, nn.LayerNorm)


def _has_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def sanity_layers(module: nn.Module) -> list[Step]:
    """The default steps of the randomisation test, from the output down.

    The model's children in order, each ``nn.Sequential``, ``ModuleList`` or ``ModuleDict``
    among them replaced by its own children (one level: the stages of an EfficientNet, the
    blocks of a ResNet stage, the layers of a VGG's ``features``); those without parameters
    are skipped, and a normalisation layer joins the step of the layer just before it, as a
    convolution and its BatchNorm form one block in the paper. For the bundled
    EfficientNet-Lite0: ``classifier``, ``conv_head+bn2``, ``blocks.6``, ..., ``blocks.0``,
    ``conv_stem+bn1`` (10 steps). Parameters held by the model itself rather than by a child
    (a ViT's position embedding) are in no step.
    """
    units: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        if isinstance(child, _CONTAINERS):
            units += [
                (f"{name}.{inner}", grandchild) for inner, grandchild in child.named_children()
            ]
        else:
            units.append((name, child))
    steps: list[list[str]] = []
    previous_is_norm = True
    for name, child in units:
        if not _has_parameters(child):
            continue
        is_norm = isinstance(child, _NORMS)
        if is_norm and steps and not previous_is_norm:
            steps[-1].append(name)
        else:
            steps.append([name])
        previous_is_norm = is_norm
    return [tuple(step) for step in reversed(steps)]


def steps_of(module: nn.Module, layers: Sequence[str | Sequence[str]] | None) -> list[Step]:
    """``layers`` as steps (a name, or several names randomised together), each name checked;
    :func:`sanity_layers` when ``layers`` is None."""
    if layers is None:
        steps = sanity_layers(module)
        if not steps:
            raise LayerError(f"{type(module).__name__} has no layer with parameters to randomise")
        return steps
    if isinstance(layers, str):
        layers = [layers]
    steps = []
    for entry in layers:
        names = (entry,) if isinstance(entry, str) else entry
        names = tuple(names) if isinstance(names, (tuple, list)) else ()
        if not names or not all(isinstance(name, str) and name for name in names):
            raise LayerError(
                f"each entry of layers= is a module name or a list of module names, got {entry!r}"
            )
        for name in names:
            if not _has_parameters(get_module(module, name)):
                raise LayerError(f"layer {name!r} has no parameters to randomise")
            if any(name in step for step in steps) or names.count(name) > 1:
                # randomised again, the row would measure a second draw, not a deeper layer
                raise LayerError(f"layer {name!r} is named twice in layers=; name each once")
        steps.append(names)
    if not steps:
        raise LayerError("layers= names no layer to randomise")
    return steps


def randomize(
    module: nn.Module, step: Step, *, init: str = "normal", generator: torch.Generator
) -> None:
    """Re-initialise, in place, every parameter of the modules named in ``step`` (and of
    their submodules).

    - Normalisation layers (BatchNorm, GroupNorm, LayerNorm and their subclasses): scale 1 and
      shift 0, their initial values; running statistics keep the trained values (the paper's
      code re-initialises trainable variables only).
    - ``init="normal"`` (default): every other parameter drawn from a truncated normal with
      mean 0 and the standard deviation of its trained values, cut at two standard
      deviations (TensorFlow's ``truncated_normal``, the paper's initialiser); keeping each
      tensor's scale keeps the activations of the partly random network in the range the
      rest of the network was trained on. A tensor whose trained values are all equal becomes 0.
    - ``init="reset"``: each module's own ``reset_parameters()`` (PyTorch's defaults:
      Kaiming-uniform for convolutions and linear layers), seeded from ``generator``; a
      module without one gets the ``"normal"`` draw.

    Every draw comes from ``generator``, so a seed gives the same network.
    """
    if init not in INITS:
        raise OptionError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
    with torch.no_grad():
        for name in step:
            for sub in get_module(module, name).modules():
                own = [p for p in sub._parameters.values() if p is not None]
                if not own:
                    continue
                if isinstance(sub, _NORMS):
                    for key, value in (("weight", 1.0), ("bias", 0.0)):
                        parameter = sub._parameters.get(key)
                        if parameter is not None:
                            parameter.fill_(value)
                elif init == "reset" and callable(getattr(sub, "reset_parameters", None)):
                    _seeded_reset(sub, own, generator)
                else:
                    for parameter in own:
                        _truncated_normal(parameter, generator)


def _truncated_normal(parameter: torch.Tensor, generator: torch.Generator) -> None:
    std = float(parameter.float().std()) if parameter.numel() > 1 else 0.0
    if not std > 0:
        parameter.zero_()
        return
    values = torch.empty(parameter.shape, dtype=torch.float32)
    nn.init.trunc_normal_(values, 0.0, std, -2 * std, 2 * std, generator=generator)
    parameter.copy_(values)


def _seeded_reset(
    module: nn.Module, parameters: list[torch.Tensor], generator: torch.Generator
) -> None:
    """``module.reset_parameters()`` under a seed drawn from ``generator``, leaving the global
    random state as it was."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    devices = sorted({p.device.index or 0 for p in parameters if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        module.reset_parameters()  # type: ignore[operator]


def snapshot_step(module: nn.Module, step: Step) -> dict[str, dict[str, torch.Tensor]]:
    """A copy of the parameters of the modules in ``step``, for :func:`restore`."""
    return {
        name: {
            key: value.detach().clone()
            for key, value in get_module(module, name).named_parameters()
        }
        for name in step
    }


def restore(module: nn.Module, saved: dict[str, dict[str, torch.Tensor]]) -> None:
    """Put back the parameters saved by :func:`snapshot_step`."""
    with torch.no_grad():
        for name, parameters in saved.items():
            for key, parameter in get_module(module, name).named_parameters():
                parameter.copy_(parameters[key])
