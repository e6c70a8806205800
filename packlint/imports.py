"""The import graph of a run, through the one resolver (``packlint.resolver``): which files of the tree each file
imports, which files can matter (padding can reach them), the import closure each cache key covers, and the
modules a linted file needs read beside it. Nothing here parses a file: statements come from ``scan_imports``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from packlint.loading import SourceFile, load_files
from packlint.resolver import ModuleIndex, imported_names, scan_imports

# A module can matter only if it names the packing API (or a user-declared source), or imports one that does. A
# module that builds an RNN and writes rows up to a length (`batch[i, :len(s)] = s`) may feed it a batch padded by
# hand (PKL008); row writes alone are too common (every collate of fairseq) to select a module and its importers.
_SOURCE_NAMES = ("pad_packed_sequence", "pack_padded_sequence", "pad_sequence", "PackedSequence")
_ROW_FILL_TAIL = re.compile(r"\[\s*\w+\s*,\s*:\s*[\w.()\[\]]+\s*\]\s*=[^=]")  # `x[i, :n] =`, after a word character
_WORD_CHAR = re.compile(r"\w")
_RNN_CALL = re.compile(r"\b(?:LSTM|GRU|RNN)\(")
#: Token rows padded by hand in Python before they become a tensor: `ids + [PAD] * (n - len(ids))`,
#: `while len(ids) < n: ids.append(PAD)`. The function holding it is a source (``demand.py``).
#: A filler that is padding: a literal (``0``, ``'<pad>'``), a name saying so (``PAD``, ``self.pad_id``) or a
#: constant in capitals; ``batch.append(item)`` in ``while len(batch) < size`` fills a batch, it does not pad.
_PAD_FILLER = r"""(?:-?\d+|'[^'\n]{0,20}'|"[^"\n]{0,20}"|[\w.]*[Pp][Aa][Dd][\w.]*|[A-Z][A-Z0-9_]*)"""
#: Two patterns, each starting with a literal (``+``, ``while``) that ``re`` looks for before trying a match: one
#: pattern with both as alternatives, or one starting with ``\b``, tries every position of every file.
_PADDED_BY_CONCAT = re.compile(r"\+\s*\[[^\[\]\n]{1,40}\]\s*\*\s*\(?\s*[\w.\[\]'\"]+\s*-\s*len\(")
_PADDED_IN_A_LOOP = re.compile(r"while\s+len\(\s*(\w+)\s*\)\s*<[^\n]*:\s*\n\s*\1\.append\(\s*" + _PAD_FILLER
                               + r"\s*\)")


def hand_padded_rnn(text: str) -> bool:
    """A whole module that may pad a batch by hand for its own RNN: it calls an RNN class and writes rows up to a
    length. No single name in it is the source, so the roots on demand (``demand.py``) take every function of
    such a module as a root.

    Written as plain substring tests first and patterns that start with a literal character: one pattern holding
    both (a look-ahead from the start of the text, then a lazy scan), or one that starts with ``\\b`` or ``\\w``,
    made ``re`` try every position of every file, a quarter of a second on fairseq's 1,000 files."""
    if "LSTM(" not in text and "GRU(" not in text and "RNN(" not in text:
        return False
    if _RNN_CALL.search(text) is None:
        return False
    found = _ROW_FILL_TAIL.search(text)
    while found is not None:
        at = found.start()
        if at and _WORD_CHAR.match(text, at - 1):
            return True
        found = _ROW_FILL_TAIL.search(text, at + 1)
    return False


def pads_lists(text: str) -> bool:
    """Whether a text pads token lists by hand: ``ids + [PAD] * (n - len(ids))`` or ``while len(ids) < n:
    ids.append(PAD)``. Both hold ``len(``, a substring test that settles most files before any pattern runs."""
    if "len(" not in text:
        return False
    if "[" in text and _PADDED_BY_CONCAT.search(text) is not None:
        return True
    if "while" not in text:
        return False
    for found in _PADDED_IN_A_LOOP.finditer(text):
        at = found.start()
        if not at or not _WORD_CHAR.match(text, at - 1):  # ``while`` as a word, not the end of ``meanwhile``
            return True
    return False


#: A loss kept per element (``reduction='none'``): masked by hand and reduced later, where PKL007 looks, with no
#: padding source in the file.
_PER_ELEMENT_LOSS = re.compile(r"""reduction\s*=\s*['"]none['"]""")


def per_element_loss(text: str) -> bool:
    return "none" in text and _PER_ELEMENT_LOSS.search(text) is not None


def text_source(text: str) -> bool:
    """A source no single name shows: token lists padded by hand, or a loss kept per element."""
    return pads_lists(text) or per_element_loss(text)


class Prefilter:
    """The text scan that decides which files name a padding source: ``search`` is true for a text that names
    one of the source names (``names``; plain substring tests, much faster than a pattern of alternatives) or
    pads rows by hand for its own RNN (``hand_padded_rnn``) or token lists by hand (``pads_lists``)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self._answers: dict[int, tuple[str, bool]] = {}  # id(text) -> (the text, its answer)

    def search(self, text: str) -> bool:
        return any(name in text for name in self.names) or hand_padded_rnn(text) or text_source(text)

    def search_file(self, text: str) -> bool:
        """``search`` for a file's whole text, answered once per text object: a file is asked about by file
        selection, the job count and every analysis round. Snippets (one function's lines) use ``search``: they
        are built anew each time, and keeping them would only hold memory."""
        found = self._answers.get(id(text))
        if found is not None and found[0] is text:
            return found[1]
        answer = self.search(text)
        if len(self._answers) > 50_000:  # a long-lived process (the language server) sees many texts
            self._answers.clear()
        self._answers[id(text)] = (text, answer)
        return answer

    def names_in(self, text: str) -> bool:
        """Whether ``text`` names a source (not the hand-padding test: for single words and qualified names)."""
        return any(name in text for name in self.names)


PREFILTER = Prefilter(_SOURCE_NAMES)


def prefilter_for(user_api: dict[str, list[str]] | None) -> Prefilter:
    """The text scan that decides which files name a padding source, with the user's own sources added."""
    names = [q.rsplit(".", 1)[-1] for q in (user_api or {}).get("sources", [])]
    if not names:
        return PREFILTER
    return Prefilter(PREFILTER.names + tuple(names))


class ImportGraph:
    """Files of the tree (by absolute path), their texts and their import edges, all from the module index.

    ``read`` lists the files read from disk beyond the ones handed in (the run cache stamps them)."""

    def __init__(self, index: ModuleIndex):
        self.index = index
        self.texts: dict[str, str] = {}
        self.edges: dict[str, set[str]] = {}
        self.read: list[str] = []
        self.handed: dict[str, SourceFile] = {}  # files of the run, by absolute path, as they were handed in

    def imports_of(self, file: str, text: str) -> set[str]:
        """The files of the tree that ``file`` imports directly (itself excluded)."""
        found = self.edges.get(file)
        if found is None:
            _, name, is_package = self.index.module_of(file)
            found = set()
            for stmt in scan_imports(text):
                for target in imported_names(stmt, name, is_package):
                    hit = self.index.find_longest(target, file)
                    if hit is not None and hit != file:
                        found.add(hit)
            self.edges[file] = found
        return found

    def text_of(self, file: str) -> str | None:
        """A file's text, read once (undecodable bytes replaced: only its import statements matter here)."""
        if file not in self.texts:
            try:
                with open(file, encoding="utf-8", errors="replace") as f:
                    self.texts[file] = f.read()
            except OSError:
                return None
            self.read.append(file)
        return self.texts[file]

    def closure(self, *files: str) -> set[str]:
        """Every file of the tree the given files import, directly or not (one walk for all of them)."""
        seen: set[str] = set()
        stack = [t for f in files for t in self.edges.get(f, ())]
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            stack.extend(self.edges.get(m, ()))
        if len(files) == 1:
            seen.discard(files[0])
        return seen

    def components(self, files: list[str]) -> list[list[str]]:
        """Groups of ``files`` connected by imports (through any file of the tree): each group can be analysed on
        its own. Groups and their members keep the order of ``files``."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        # connected through any file of the tree: the direct edges of every file reached are enough, and each
        # file's whole closure (what this once took) made the grouping quadratic on a package of hubs
        reached = set(files) | self.closure(*files)
        for m in sorted(reached):
            find(m)
            for t in sorted(self.edges.get(m, ())):
                parent[find(t)] = find(m)
        groups: dict[str, list[str]] = {}
        for m in files:
            groups.setdefault(find(m), []).append(m)
        return list(groups.values())


def select_needed(files: list[SourceFile], graph: ImportGraph, prefilter: Prefilter, limit: int = 20000
                  ) -> tuple[list[SourceFile], int]:
    """The files that can matter, and how many were skipped without parsing.

    A file can only report a finding if padding can reach it: it names the packing API (cheap text scan), or it
    imports, directly or through any chain of modules of the tree (linted or not), a module that does. The graph
    is filled from import statements, never from parsing. Other files are counted as checked and never parsed;
    everything a needed file imports is read later by ``dependencies``."""
    for f in files:
        if f.file:
            graph.texts.setdefault(f.file, f.text)
            graph.handed.setdefault(f.file, f)
    queue = sorted(graph.texts, reverse=True)
    while queue and len(graph.texts) < limit:
        file = queue.pop()
        if file in graph.edges:
            continue
        for target in sorted(graph.imports_of(file, graph.texts[file])):
            if target not in graph.texts and graph.text_of(target) is not None:
                queue.append(target)
    relevant = {m for m, text in graph.texts.items() if prefilter.search_file(text)}
    importers: dict[str, set[str]] = {}
    for mod, targets in graph.edges.items():
        for t in targets:
            importers.setdefault(t, set()).add(mod)
    reached = set(relevant)
    frontier = sorted(relevant)
    while frontier:
        mod = frontier.pop()
        for importer in sorted(importers.get(mod, ())):
            if importer not in reached:
                reached.add(importer)
                frontier.append(importer)
    needed = [f for f in files if f.key in reached]
    return needed, len(files) - len(needed)


def dependencies(files: list[SourceFile], graph: ImportGraph, max_bytes: int, limit: int = 2000
                 ) -> list[SourceFile]:
    """Modules of the tree that the given files import, transitively, loaded to be read but not reported (pre-commit
    passes only changed files; their imports are still analysed). Sorted by path."""
    seen = {f.file for f in files if f.file}
    queue = [f for f in files if f.file]
    out: list[SourceFile] = []
    while queue and len(out) < limit:
        f = queue.pop()
        for target in sorted(graph.imports_of(f.file, f.text)):
            if target in seen:
                continue
            seen.add(target)
            handed = graph.handed.get(target)
            if handed is not None:  # a file of the run that was not selected: read under the same name
                loaded = [replace(handed, report=False)]
            else:
                loaded, _ = load_files([Path(target)], report=False, max_bytes=max_bytes, index=graph.index)
            out.extend(loaded)
            queue.extend(loaded)
    return sorted(out, key=lambda f: f.file)
