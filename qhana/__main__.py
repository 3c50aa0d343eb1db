"""``python -m qhana`` is the same as the ``qhana`` command."""

import sys

from qhana.cli import main

sys.exit(main())
