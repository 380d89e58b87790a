"""Start the frozen app: the same as the ``plan-runner`` command."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
