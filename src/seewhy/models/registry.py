"""The registry of bundled models: models whose weights ship inside installed packages.

Adding a bundled model is one decorated function::

    @register("my_net", description="MyNet, ImageNet weights from the my-net-weights package")
    def my_net(weights: WeightsSpec = None) -> LoadedModel:
        ...
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from seewhy.errors import ModelError
from seewhy.models.base import LoadedModel

#: What ``weights=`` may be: ``None`` (the default weights), ``"random"`` or a checkpoint path.
WeightsSpec = str | os.PathLike | None

#: Builds a bundled model; takes the ``weights=`` value given to ``load_model``.
Factory = Callable[[WeightsSpec], LoadedModel]


@dataclass(frozen=True)
class Entry:
    """One bundled model: its name, a one-line description and the function that builds it."""

    name: str
    description: str
    factory: Factory


BUNDLED: dict[str, Entry] = {}


def register(name: str, *, description: str) -> Callable[[Factory], Factory]:
    """A decorator that adds ``factory`` to the bundled models under ``name``."""

    def decorate(factory: Factory) -> Factory:
        if name in BUNDLED:
            raise ModelError(f"a bundled model named {name!r} is already registered")
        BUNDLED[name] = Entry(name, description, factory)
        return factory

    return decorate


def bundled_names() -> list[str]:
    """The names of the bundled models, in registration order."""
    return list(BUNDLED)
