"""What a run records of its request: JSON-ready values, the same in ``res.options`` and in
``report.json`` (so a result loaded back has options equal to the saved ones).

Tuples become lists, tensors and arrays a short description (``{"tensor": [3, 224, 224],
"dtype": "float32"}``: their values are not kept), functions their qualified name
(``{"function": "my_score"}``), dataclasses (``Classes([281, 285])``) a dict of their fields
under their class name.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from seewhy._version import __version__


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it (see the module's docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        shape = list(value.shape)
        if value.ndim <= 2 and int(np.prod(shape)) <= 64:
            return value.tolist()
        return {"tensor": shape, "dtype": str(value.dtype).removeprefix("torch.")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {type(value).__name__: fields}
    if callable(value):
        name = getattr(value, "__qualname__", None) or type(value).__name__
        return {"function": name}
    return repr(value)


def versions() -> dict[str, str]:
    """The versions a run used: seewhy, torch, Python."""
    return {"seewhy": __version__, "torch": torch.__version__, "python": platform.python_version()}
