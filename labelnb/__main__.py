"""``python -m labelnb`` runs the command line."""

import sys

from labelnb.cli import main

sys.exit(main())
