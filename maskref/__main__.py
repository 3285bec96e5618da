"""``python -m maskref``: the ``maskref`` command."""

import sys

from .cli import main

sys.exit(main())
