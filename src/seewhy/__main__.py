"""``python -m seewhy`` runs the ``seewhy`` command."""

from seewhy.cli.main import run

run()
