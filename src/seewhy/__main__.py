"""``python -m seewhy`` runs the ``seewhy`` command."""

from seewhy.cli import run

run()
