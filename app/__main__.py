"""``python -m app``: the same as the ``plan-runner`` command."""

import sys

from app.cli import main

sys.exit(main())
