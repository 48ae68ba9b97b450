"""``python -m rvc``: the command line."""

import sys

from rvc.cli import main

if __name__ == "__main__":
    sys.exit(main())
