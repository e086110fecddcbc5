"""``python -m toposcope`` runs the CLI."""

import sys

from toposcope.cli import main

sys.exit(main())
