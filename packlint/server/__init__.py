"""``packlint server``: a Language Server that shows packlint's findings in editors while the code is typed.

The package is split by job: ``workspace`` decides what an edit re-analyses (buffers over disk, the import-connected
part of the tree, reuse of unchanged results), ``convert`` turns findings into LSP diagnostics, ``actions`` offers
the code actions ("add noqa", and the hook where automatic fixes plug in), and ``app`` is the protocol wiring
(pygls): document events, debouncing, the one worker thread. Only ``app`` needs pygls, which is an optional extra
(``pip install 'packlint[server]'``), so this module checks for it before importing anything that does.
"""

from __future__ import annotations

import importlib.util
import sys

INSTALL_HINT = "pip install 'packlint[server]'"


def missing_dependency() -> str | None:
    """The name of the server's missing requirement, or None when it can run."""
    for module in ("pygls", "lsprotocol"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken install
            return module
    return None


def serve() -> int:
    """Run the server over stdin and stdout until the client says exit. Returns the exit status: 2, with an
    install hint on stderr, when pygls is not installed."""
    missing = missing_dependency()
    if missing is not None:
        print(f"error: `packlint server` needs {missing}, which is not installed: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from packlint.server.app import run  # pygls is there: import the protocol wiring only now

    return run()


__all__ = ["INSTALL_HINT", "missing_dependency", "serve"]
