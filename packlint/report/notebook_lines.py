"""Where a notebook cell's line sits in the ``.ipynb`` file itself, for formats that can only point at file lines.

Why: SARIF viewers (GitHub code scanning) place an alert by a region of the file; without one, a notebook finding
shows on the file as a whole. Jupyter writes each source line of a cell as one string of a JSON array, one per file
line, so the file line of "cell 4, line 7" is the line where that string starts. The ``source`` values are found
in the file's text in cell order and each is checked against the decoded notebook, so a file laid out otherwise
(a cell's source as one string, or minified JSON) maps to the line where that cell's source starts, never to a
wrong cell. Anything unreadable maps to None.
"""

from __future__ import annotations

import json
import re

_SOURCE_KEY = re.compile(r'"source"\s*:\s*')
_SPACE = re.compile(r"[\s,]*")


class NotebookLines:
    """The file-line map of one notebook's cells, computed when first asked."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[list[int]] | None = None  # per cell: file offset of each source line (or of the value)

    def file_line(self, cell: int, line: int) -> int | None:
        """The 1-based line of the file holding line ``line`` of cell ``cell`` (both 1-based), or None."""
        starts = self._map()
        if not 1 <= cell <= len(starts) or not starts[cell - 1]:
            return None
        offsets = starts[cell - 1]
        offset = offsets[min(max(line, 1), len(offsets)) - 1]
        return self.text.count("\n", 0, offset) + 1

    def _map(self) -> list[list[int]]:
        if self._starts is None:
            self._starts = []
            try:
                cells = json.loads(self.text).get("cells", [])
                self._starts = self._locate([c.get("source") if isinstance(c, dict) else None for c in cells])
            except (ValueError, AttributeError, TypeError):
                self._starts = []
        return self._starts

    def _locate(self, sources: list) -> list[list[int]]:
        decoder = json.JSONDecoder()
        out: list[list[int]] = []
        pos = 0
        for source in sources:
            found: list[int] = []
            for m in _SOURCE_KEY.finditer(self.text, pos):
                try:
                    value, end = decoder.raw_decode(self.text, m.end())
                except ValueError:
                    continue
                if value != source:
                    continue  # a "source" key of some metadata or output, not this cell's
                pos = end
                found = self._elements(m.end(), end) if isinstance(value, list) else [m.end()]
                break
            out.append(found)
        return out

    def _elements(self, start: int, end: int) -> list[int]:
        """File offsets of each string of the JSON array at ``start`` (which ends at ``end``)."""
        decoder = json.JSONDecoder()
        offsets = []
        pos = start + 1  # past "["
        while pos < end:
            pos = _SPACE.match(self.text, pos).end()
            if pos >= end or self.text[pos] == "]":
                break
            offsets.append(pos)
            _, pos = decoder.raw_decode(self.text, pos)
        return offsets


__all__ = ["NotebookLines"]
