"""The ``seewhy`` command: a thin shell over the Python API.

:func:`run` is the console script and ``python -m seewhy``. Before PyTorch is imported it
chooses how PyTorch's OpenMP threads wait (:func:`wait_policy`), which is only possible
before the OpenMP runtime loads; then :func:`seewhy.cli.main.run` parses the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["PASSIVE_COMMANDS", "run", "wait_policy"]

# Subcommands that write files in threads while PyTorch computes the next inputs.
PASSIVE_COMMANDS = ("explain",)


def wait_policy(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> str | None:
    """``"PASSIVE"`` when ``argv`` runs a subcommand of :data:`PASSIVE_COMMANDS` and the user
    has set neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT``; else None (keep OpenMP's
    default).

    By default an OpenMP thread that finishes its share of an operation spins, busy, for a
    while before it sleeps, so that the next operation starts a few microseconds sooner.
    ``seewhy explain`` writes each part's figures in threads while PyTorch explains the
    next part, and on a machine with as many cores as PyTorch threads the spinning threads
    take the cores the writers need. Measured with ``bench/output.py``'s command (64
    photos, 2 cores): 9.4 s with spinning against 7.9 s with ``OMP_WAIT_POLICY=PASSIVE``,
    14.6 against 10.0 CPU-seconds. A pure forward pass is slower passive (about 25 % at
    batch 1), so the other subcommands keep the default.
    """
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in PASSIVE_COMMANDS:
        return None
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return None
    return "PASSIVE"


def run() -> None:
    """The ``seewhy`` console script: sets :func:`wait_policy` when PyTorch is not yet
    imported, then runs :func:`seewhy.cli.main.run`."""
    if "torch" not in sys.modules:
        policy = wait_policy(sys.argv[1:], os.environ)
        if policy is not None:
            os.environ["OMP_WAIT_POLICY"] = policy
    from seewhy.cli.main import run as run_command

    run_command()
