"""``python -m imageprism`` runs the command line."""

import sys

from imageprism.cli.commands import main

sys.exit(main())
