"""Reading checkpoint files and loading state dicts, with errors that name the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seewhy.errors import ModelError

#: Keys under which training scripts commonly nest the state dict.
NESTED_KEYS = ("state_dict", "model", "model_state_dict", "state_dict_ema", "model_ema")
#: Prefixes added by ``DataParallel``/``DistributedDataParallel`` and ``torch.compile``.
STRIPPED_PREFIXES = ("module.", "_orig_mod.")


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path``, loaded on the CPU.

    Accepts a raw state dict, a dict holding one under ``"state_dict"`` or ``"model"`` (and
    a few similar keys), or a ``.safetensors`` file. ``"module."`` prefixes are stripped.
    Only tensors are unpickled (``weights_only=True``): no code in the file is run.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a directory, not a file" if file.is_dir() else "does not exist"
        raise ModelError(
            f"checkpoint '{path}' {what}; pass weights= the path of a saved state dict, "
            "weights='random' for random initialization, or leave it out for the default weights"
        )
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(file), device="cpu")
        else:
            raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelError(
            f"could not read checkpoint '{path}': {type(error).__name__}: {error}. Save it with "
            "torch.save(model.state_dict(), path) so it holds only tensors"
        ) from error
    return extract_state_dict(raw, source=str(path))


def extract_state_dict(raw: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` state dict inside a loaded checkpoint object."""
    if isinstance(raw, Mapping):
        for key in NESTED_KEYS:
            if isinstance(raw.get(key), Mapping):
                raw = raw[key]
                break
    if not isinstance(raw, Mapping) or not raw:
        raise ModelError(f"'{source}' does not hold a state dict (a dict of tensors)")
    state = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not state:
        keys = _listing([str(k) for k in raw])
        raise ModelError(f"'{source}' holds no tensors (its keys are {keys})")
    for prefix in STRIPPED_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_by_keys(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` by parameter name; a ModelError lists what does not fit."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches (checkpoint vs model): {_listing(wrong, 3)}")
    if problems:
        raise ModelError(
            f"checkpoint '{source}' does not fit {type(module).__name__}: " + "; ".join(problems)
        )
    module.load_state_dict(state, strict=True)


def load_by_position(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` by order, ignoring names: the i-th tensor goes to the i-th key.

    Used for checkpoints saved from another implementation of the same architecture; every
    shape must match.
    """
    expected = module.state_dict()
    values = list(state.values())
    if len(values) != len(expected):
        raise ModelError(
            f"checkpoint '{source}' has {len(values)} tensors but {type(module).__name__} "
            f"has {len(expected)}; it is not this architecture"
        )
    renamed: dict[str, torch.Tensor] = {}
    for index, ((key, target), value) in enumerate(zip(expected.items(), values, strict=True)):
        if value.shape != target.shape:
            raise ModelError(
                f"checkpoint '{source}' does not fit {type(module).__name__}: tensor {index} "
                f"has shape {tuple(value.shape)} but {key!r} needs {tuple(target.shape)}"
            )
        renamed[key] = value
    module.load_state_dict(renamed, strict=True)


def infer_num_classes(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> int | None:
    """The class count of a checkpoint whose classifier differs from the model's, else ``None``.

    Looks at the model's last weight matrix (the classifier): if the checkpoint has it with
    another number of rows and otherwise the same shape, that row count is returned.
    """
    for key in reversed(list(expected)):
        target = expected[key]
        if key.endswith("weight") and target.ndim >= 2:
            found = state.get(key)
            if found is None or found.ndim != target.ndim or found.shape == target.shape:
                return None
            return int(found.shape[0]) if found.shape[1:] == target.shape[1:] else None
    return None
