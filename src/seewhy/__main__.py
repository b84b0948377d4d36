"""``python -m seewhy`` runs the ``seewhy`` command."""

import sys

from seewhy.cli.main import main

sys.exit(main())
