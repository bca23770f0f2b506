"""``python -m strikeflow`` runs the command line."""

import sys

from strikeflow.cli import main

sys.exit(main())
