"""Files as the fixes and ``--add-noqa`` edit them: a Python file is one piece of code; a notebook is one piece
per code cell, read and written through nbformat so it stays a notebook (never edited as JSON text).

Each piece keeps two texts: ``text``, as written (what is edited and saved), and ``code``, what Python sees (a
cell's IPython magics neutralised, line for line), which is what is parsed or tokenized to place the edits. The
lines a fix or a ``# noqa`` touches are Python lines, the same in both.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from packlint.diagnostics import FileProblem
from packlint.source import decode_with_encoding, neutralise_magics


class NotEditable(Exception):
    """A file that cannot be edited, with the reason to print (``path: not edited: reason``)."""


@dataclass
class Piece:
    """One unit of code: the whole file (``cell`` 0) or one notebook cell (its 1-based number)."""

    cell: int
    text: str
    code: str
    new: str | None = None  # the edited text, once edited

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new != self.text


@dataclass
class Document:
    """A file to edit and how to write it back."""

    path: str
    pieces: dict[int, Piece] = field(default_factory=dict)
    encoding: str = "utf-8"
    notebook: object = None  # the nbformat node of a notebook

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.pieces.values())

    def data(self) -> bytes:
        """The edited file's bytes (same encoding, byte-order mark and line breaks as read)."""
        if self.notebook is None:
            piece = self.pieces[0]
            return (piece.new if piece.new is not None else piece.text).encode(self.encoding)
        import nbformat  # present: a notebook was read with it

        cells = self.notebook.cells
        for number, piece in self.pieces.items():
            if piece.changed:
                cells[number - 1].source = piece.new
        text = nbformat.writes(self.notebook)
        nbformat.reads(text, as_version=4)  # raises if the result does not load as a notebook
        return (text if text.endswith("\n") else text + "\n").encode("utf-8")

    def diff(self) -> str:
        """A unified diff of every edited piece (per cell for a notebook)."""
        out = []
        for number, piece in sorted(self.pieces.items()):
            if not piece.changed:
                continue
            name = f"{self.path}:cell {number}" if self.notebook is not None else self.path
            lines = difflib.unified_diff(_lines(piece.text), _lines(piece.new), fromfile=name, tofile=name)
            out.append("".join(line if line.endswith("\n") else line + "\n" for line in lines))
        return "".join(out)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def read(path: str) -> Document:
    """The file at ``path`` as pieces of code. Raises ``NotEditable`` with the reason."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise NotEditable(exc.strerror or str(exc)) from exc
    if path.endswith(".ipynb"):
        return _read_notebook(path, raw)
    decoded = decode_with_encoding(raw, path)
    if isinstance(decoded, FileProblem):
        raise NotEditable(decoded.message)
    text, encoding = decoded
    return Document(path, {0: Piece(0, text, text)}, encoding=encoding)


def _read_notebook(path: str, raw: bytes) -> Document:
    try:
        import nbformat
    except ImportError as exc:
        raise NotEditable("notebooks are edited through nbformat, which is not installed "
                          "(pip install 'packlint[notebooks]')") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(raw.decode("utf-8-sig"), as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a bad notebook; all mean "not editable"
        raise NotEditable(f"not a readable notebook: {type(exc).__name__}: {exc}") from exc
    if nb.get("nbformat") != 4:
        raise NotEditable(f"notebook format {nb.get('nbformat')} (only format 4 is edited)")
    pieces = {}
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") == "code" and isinstance(cell.get("source"), str):
            pieces[number] = Piece(number, cell.source, neutralise_magics(cell.source))
    return Document(path, pieces, notebook=nb)


def write(doc: Document) -> None:
    """Save an edited document. Raises ``NotEditable`` when it cannot be written."""
    try:
        data = doc.data()
        Path(doc.path).write_bytes(data)
    except OSError as exc:
        raise NotEditable(f"cannot write: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - nbformat's validation: keep the file as it was
        raise NotEditable(f"the edited notebook would not be valid ({type(exc).__name__}); left as it was") from exc
