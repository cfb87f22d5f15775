"""``python -m imageprism`` runs the command line."""

import sys

from imageprism.cli import main

sys.exit(main())
