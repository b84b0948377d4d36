"""The method registry: names, the smooth: wrapper, errors that say what to write."""

from __future__ import annotations

import pytest

from seewhy.errors import MethodError
from seewhy.methods import get_method


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("smooth:", r"'smooth:' names no method to smooth: write smooth:<method>"),
        (
            "smooth:smooth:gradcam",
            r"smooths twice: smooth: wraps a method once \(e.g\. smooth:gradcam\)",
        ),
        ("smooth:gradcan", r"unknown method 'gradcan'\. Did you mean 'gradcam'"),
    ],
)
def test_a_bad_smooth_name_says_what_to_write(name: str, message: str) -> None:
    with pytest.raises(MethodError, match=message):
        get_method(name)


def test_smooth_wraps_a_registered_method() -> None:
    spec = get_method("smooth:gradcam")
    assert (spec.family, spec.inner) == ("smooth", "gradcam")
