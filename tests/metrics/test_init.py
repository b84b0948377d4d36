"""seewhy.metrics loads its names on first use, and a function keeps its name when the
submodule of the same name is imported."""

import subprocess
import sys

import seewhy.metrics as metrics
from seewhy.metrics import _HOME_OF


def test_all_lists_every_name_and_each_resolves_to_its_submodules_object():
    assert sorted(metrics.__all__) == sorted(_HOME_OF)
    for name, home in _HOME_OF.items():
        module = sys.modules.get(f"seewhy.metrics.{home}") or __import__(
            f"seewhy.metrics.{home}", fromlist=[name]
        )
        assert getattr(metrics, name) is getattr(module, name)


def test_functions_named_like_their_submodules_stay_functions():
    import seewhy.metrics.deletion
    import seewhy.metrics.randomize
    import seewhy.metrics.road  # noqa: F401

    assert callable(metrics.road) and metrics.road.__module__ == "seewhy.metrics.road"
    assert callable(metrics.deletion) and callable(metrics.randomize)


def test_unknown_names_raise_attribute_error():
    try:
        metrics.no_such_metric  # noqa: B018
    except AttributeError as error:
        assert "no_such_metric" in str(error)
    else:
        raise AssertionError("no AttributeError")


def test_importing_a_submodule_does_not_import_the_sparse_solvers():
    code = (
        "import sys; from seewhy.metrics.randomize import INITS; "
        "print('scipy.sparse.linalg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
