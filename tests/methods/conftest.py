"""Fixtures of the methods' tests."""

from __future__ import annotations

import pytest
from helpers.perturbation import build


@pytest.fixture(scope="module", autouse=True)
def _release_perturbation_models():
    """Free the peers' models the perturbation tests built (VGG-11 holds 0.5 GB) when a
    module's tests are done."""
    yield
    build.cache_clear()
