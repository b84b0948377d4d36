"""The layout's import rules: the engine runs passes and knows nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import seewhy

PACKAGE = Path(seewhy.__file__).parent
ABOVE_THE_ENGINE = ("explain", "io", "models", "result", "report", "render", "cli", "synthesis")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_imports_nothing_above_it(path: Path) -> None:
    forbidden = {
        name
        for name in imports_of(path)
        if any(
            name == f"seewhy.{room}" or name.startswith(f"seewhy.{room}.")
            for room in ABOVE_THE_ENGINE
        )
    }
    assert not forbidden, f"{path.name} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_reads_only_the_methods_contract(path: Path) -> None:
    methods = {name for name in imports_of(path) if name.startswith("seewhy.methods")}
    assert methods <= {"seewhy.methods.contract"}


MAP_CONSUMERS = ("localize.py", "metrics/localization.py", "metrics/pointing.py")


@pytest.mark.parametrize("name", MAP_CONSUMERS)
def test_boxes_and_map_metrics_read_maps_only(name: str) -> None:
    """They take maps (arrays or tensors) and give numbers: no engine, model or method."""
    reached = {
        n
        for n in imports_of(PACKAGE / name)
        if n.startswith(("seewhy.engine", "seewhy.explain", "seewhy.models", "seewhy.methods"))
        or n == "torch"
    }
    assert not reached, f"{name} imports {sorted(reached)}"


def test_localize_and_metrics_are_attributes_loaded_on_first_use() -> None:
    import subprocess
    import sys

    code = (
        "import sys, seewhy; assert 'seewhy.metrics' not in sys.modules; "
        "assert seewhy.metrics.pointing_game is sys.modules['seewhy.metrics'].pointing_game; "
        "assert callable(seewhy.localize.boxes)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_seewhy_does_not_import_torch() -> None:
    """So the ``seewhy`` command can set OpenMP's environment before PyTorch loads."""
    import subprocess
    import sys

    code = (
        "import sys, seewhy; assert 'torch' not in sys.modules; "
        "from seewhy import Explainer, load_model; assert 'torch' in sys.modules; "
        "assert seewhy.Explainer is Explainer and 'load_model' in dir(seewhy); "
        "assert all(hasattr(seewhy, name) for name in seewhy.__all__); "
        # submodules stay attributes, as when import seewhy imported them all
        "assert seewhy.models.LoadedModel is seewhy.LoadedModel; "
        "assert callable(seewhy.report.save_results) and seewhy.engine and seewhy.io; "
        "assert 'render' in dir(seewhy)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
