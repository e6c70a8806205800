"""packlint: a static linter that keeps padding from pad_packed_sequence out of losses.

Importing this package must stay cheap: it never imports torch or any reporter.
"""

__version__ = "0.1.0"
