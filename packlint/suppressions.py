"""Suppression comments: ``# noqa``, ``# noqa: PKL001, PKL005``, file-level ``# packlint: noqa``, and
``--add-noqa``, which writes them for every current finding so a large codebase can adopt packlint first and fix
its backlog later."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from packlint.diagnostics import FileProblem, Finding
from packlint.source import decode_with_encoding

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
FILE_NOQA = re.compile(r"^\s*#\s*packlint:\s*noqa\s*$", re.IGNORECASE | re.MULTILINE)


def noqa_codes(line: str) -> set[str] | None:
    """Codes a ``# noqa`` comment names; an empty set for a bare ``# noqa``; None when there is none."""
    m = _NOQA.search(line)
    if m is None:
        return None
    codes = m.group("codes")
    if not codes:
        return set()
    return {c.upper() for c in re.split(r"[\s,]+", codes) if c}


def noqa_warnings(path: str, text: str, known: set[str]) -> list[str]:
    """A ``# noqa: PKL999`` naming a code packlint does not have silences nothing: say so (other tools' codes,
    like ``E501``, are theirs and pass without a word)."""
    out = []
    for lineno, line in sorted(comments(text).items()):
        codes = noqa_codes(line) if "noqa" in line else None
        for code in sorted(codes or ()):
            if code.startswith("PKL") and code not in known:
                out.append(f"{path}:{lineno}: unknown code {code} in `# noqa` comment; it silences nothing")
    return out


def add_noqa(findings: list[Finding], read=None, write=None) -> int:
    """Append ``# noqa: CODE`` to each finding's line (merging with an existing noqa), so a team can adopt
    packlint on a large codebase and fix the backlog later. Returns how many directives were added."""
    by_file: dict[str, dict[int, set[str]]] = {}
    for f in findings:
        by_file.setdefault(f.path, {}).setdefault(f.line, set()).add(f.code)
    added = 0
    for path, lines_codes in by_file.items():
        raw = Path(path).read_bytes() if read is None else read(path)
        decoded = decode_with_encoding(raw, path)
        if isinstance(decoded, FileProblem):
            continue
        text, encoding = decoded
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        for lineno, codes in sorted(lines_codes.items()):
            if not 1 <= lineno <= len(lines):
                continue
            line = lines[lineno - 1]
            existing = noqa_codes(line)
            if existing is not None and not existing:
                continue  # a bare noqa already silences everything
            merged = sorted((existing or set()) | codes)
            base = _NOQA.sub("", line).rstrip() if existing is not None else line.rstrip()
            lines[lineno - 1] = f"{base}  # noqa: {', '.join(merged)}"
            added += len(codes - (existing or set()))
        data = newline.join(lines).encode(encoding if encoding != "utf-8-sig" else "utf-8")
        if encoding == "utf-8-sig":
            data = b"\xef\xbb\xbf" + data
        if write is None:
            Path(path).write_bytes(data)
        else:
            write(path, data)
    return added


def with_noqa(line: str, codes: set[str]) -> str | None:
    """``line`` (without its line break) with ``# noqa: CODES`` appended, merged into an existing ``# noqa``
    comment the way ``add_noqa`` merges; None when nothing needs adding (a bare ``# noqa`` or every code already
    there). The editor's "add noqa" action writes exactly this line."""
    existing = noqa_codes(line)
    if existing is not None and (not existing or codes <= existing):
        return None
    merged = sorted((existing or set()) | codes)
    base = _NOQA.sub("", line).rstrip() if existing is not None else line.rstrip()
    return f"{base}  # noqa: {', '.join(merged)}"


def comments(text: str) -> dict[int, str]:
    """Line -> comment text, from the tokenizer: a ``# noqa`` inside a string is not a suppression. Files without
    the word ``noqa`` are not tokenized at all."""
    if "noqa" not in text:
        return {}
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def suppressed(comment_map: dict[int, str], finding: Finding) -> bool:
    """Whether a ``# noqa`` on the finding's first or last line silences it."""
    candidates = {finding.line}
    if finding.end_line:
        candidates.add(finding.end_line)
    for ln in candidates:
        comment = comment_map.get(ln)
        if comment is None:
            continue
        codes = noqa_codes(comment)
        if codes is not None and (not codes or finding.code in codes):
            return True
    return False


