"""The console script's start: OpenMP's wait policy is chosen before PyTorch loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seewhy.cli import wait_policy


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["explain", "cat.jpg"], {}, "PASSIVE"),
        (["explain", "--top", "5", "photos/"], {"OMP_NUM_THREADS": "2"}, "PASSIVE"),
        (["explain"], {"OMP_WAIT_POLICY": "ACTIVE"}, None),  # the user's choice stands
        (["explain"], {"GOMP_SPINCOUNT": "1000"}, None),
        (["evaluate", "photos/"], {}, None),  # forward passes: spinning is faster
        (["serve"], {}, None),
        (["--version"], {}, None),
        ([], {}, None),
    ],
)
def test_wait_policy(argv: list[str], environ: dict[str, str], expected: str | None) -> None:
    assert wait_policy(argv, environ) == expected


# Runs seewhy.cli.run with seewhy.cli.main replaced by a probe printing what it finds.
PROBE = (
    "import os, sys, types; probe = types.ModuleType('seewhy.cli.main'); "
    "probe.run = lambda: print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules); "
    "sys.modules['seewhy.cli.main'] = probe; import seewhy.cli; seewhy.cli.run()"
)


@pytest.mark.parametrize(
    ("args", "policy", "expected"),
    [
        (["explain", "x.jpg"], None, "PASSIVE False"),
        (["methods"], None, "None False"),
        (["explain", "x.jpg"], "ACTIVE", "ACTIVE False"),
    ],
)
def test_run_sets_the_policy_before_torch_is_imported(
    args: list[str], policy: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == expected
