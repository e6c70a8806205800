"""``python -m packlint.server``: the same as ``packlint server``."""

import sys

from packlint.server import serve

sys.exit(serve())
