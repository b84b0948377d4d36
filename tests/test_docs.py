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


README = Path(__file__).parent.parent / "README.md"


@pytest.mark.slow
def test_the_readme_s_python_examples_run_as_pasted(tmp_path, monkeypatch):
    """Every ```python block of README.md, in order, as one script (the synthesis example
    reuses the model of the first); nothing is downloaded."""
    monkeypatch.chdir(tmp_path)
    script = code_blocks(README)
    assert "example_image()" in script
    exec(compile(script, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "out" / "report.json").exists()


def test_the_readme_s_seewhy_commands_parse():
    """Every ``seewhy ...`` line of README.md's shell blocks names only flags and
    subcommands the CLI has (running them needs photos the README only names)."""
    import shlex

    from seewhy.cli.main import build_parser

    lines = re.findall(r"^seewhy .*$", README.read_text(), flags=re.MULTILINE)
    commands = [shlex.split(line.split("  #")[0])[1:] for line in lines]
    assert len(commands) > 10
    parser = build_parser()
    for argv in commands:
        if argv == ["--version"]:
            continue
        parser.parse_args(argv)
