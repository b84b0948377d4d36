"""The worked examples in docs/ run as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


def code_blocks(path: Path) -> str:
    """Every ```python block of ``path``, in order, as one script."""
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL))


@pytest.mark.parametrize("name", ["multi-input.md"])
def test_the_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = code_blocks(DOCS / name)
    assert script
    exec(compile(script, str(DOCS / name), "exec"), {"__name__": "docs"})
