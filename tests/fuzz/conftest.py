"""tests/fuzz on sys.path: the harness and the case modules import each other by name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
