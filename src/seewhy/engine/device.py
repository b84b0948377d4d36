"""Where a call runs: the ``device=`` a user asks for, checked, and the model taken there.

:func:`resolve_device` turns ``device=`` into a :class:`torch.device` that exists on this
machine, or an :class:`~seewhy.errors.OptionError` naming the value and what is allowed.
:func:`placed` runs a block with the model on that device and puts it back where it was on
every path: a model on the CPU explained with ``device="cuda"`` is moved to the GPU for the
call (its weights copied there once per call) and is on the CPU again afterwards. The
parameters, buffers and ``.grad`` tensors are the same objects before and after
(``nn.Module.to`` swaps their data in place), so an optimizer holding them keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from seewhy.errors import OptionError


def available_devices() -> list[str]:
    """The devices this machine has: ``cpu``, each ``cuda:i`` and ``mps`` when present."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` that exists here, or an OptionError."""
    allowed = ", ".join(repr(name) for name in available_devices())
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise OptionError(
            f"device={device!r} is not a device name; this machine has {allowed}"
        ) from error
    kind, index = resolved.type, resolved.index
    if kind == "cpu":
        return resolved
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count and (index is None or index < count):
            return resolved
    elif kind == "mps":
        if torch.backends.mps.is_available() and not index:
            return resolved
    elif kind != "meta":
        try:  # another backend (xpu, ...): usable if a tensor can be made there
            torch.empty(0, device=resolved)
            return resolved
        except (RuntimeError, AssertionError):
            pass
    raise OptionError(f"device={device!r} is not available here; this machine has {allowed}")


def _devices(module: nn.Module) -> set[torch.device]:
    tensors = [*module.parameters(), *module.buffers()]
    return {tensor.device for tensor in tensors}


@contextmanager
def placed(module: nn.Module, device: torch.device) -> Iterator[None]:
    """Run a block with ``module``'s parameters and buffers on ``device``; put them back on
    exit, exceptions included. Nothing moves when they are there already. A model spread
    over several devices is not moved (an OptionError): leave ``device=`` out to run it
    where it is."""
    found = _devices(module)
    if all(_same(d, device) for d in found):
        yield
        return
    if len(found) > 1:
        listed = ", ".join(sorted(str(d) for d in found))
        raise OptionError(
            f"the model's parameters are on several devices ({listed}), so device={str(device)!r} "
            "would move all of them; leave device= out to run the model where it is"
        )
    (home,) = found
    try:
        module.to(device)
        yield
    finally:
        module.to(home)


def _same(found: torch.device, wanted: torch.device) -> bool:
    """``cuda`` (the current GPU) and ``cuda:0`` name the same device when it is current."""
    if found.type != wanted.type:
        return False
    if found.index is None or wanted.index is None:
        current = torch.cuda.current_device() if found.type == "cuda" else 0
        return (found.index or current) == (wanted.index or current)
    return found.index == wanted.index
