"""``python -m roonsbi``: the command line (:mod:`roonsbi.cli`)."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
