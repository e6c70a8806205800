"""The fixes as editor code actions (``packlint server``): each finding's fix applied to the open buffer, offered
as the lines it replaces. The server's provider hook (``packlint.server.actions.providers``) finds
``packlint.fixes.code_actions``; nothing here knows LSP types, and LibCST is imported only when a finding in the
requested range has a fix."""

from __future__ import annotations

from packlint.diagnostics import Finding


def code_actions(request) -> list:
    """One quick fix per finding of ``request`` (a ``server.actions.ActionRequest``) whose rule can fix it there,
    labelled unsafe where the fix rests on an assumption; the safe ones are preferred."""
    from packlint.fixes.apply import FIXERS, fix_piece  # noqa: PLC0415 - LibCST only when a fix is asked for
    from packlint.fixes.documents import Piece  # noqa: PLC0415
    from packlint.server.actions import Action, Edit  # noqa: PLC0415 - the server imports this module lazily

    wanted = set(request.diagnostics)
    out = []
    for finding in sorted(getattr(request, "findings", ()), key=Finding.sort_key):
        if finding.fix is None or finding.code not in FIXERS or (finding.line, finding.code) not in wanted:
            continue
        piece = Piece(0, request.text, request.text)
        fixed, _problem = fix_piece(piece, [finding])
        if not fixed or piece.new is None or piece.new == request.text:
            continue
        edit = _changed_lines(request.text, piece.new)
        label = "" if finding.fix.safe else " (unsafe)"
        out.append(Action(title=f"packlint: {finding.fix.title}{label}", kind="quickfix", edits=(Edit(*edit),),
                          resolves=((finding.line, finding.code),), preferred=finding.fix.safe))
    return out


def _changed_lines(old: str, new: str) -> tuple[int, int, int, int, str]:
    """The smallest run of whole lines that differs, as (line, col, end_line, end_col, text), 1-based, end
    exclusive: the old lines ``line..end_line`` are replaced by ``text`` (lines joined, no final newline)."""
    a, b = old.splitlines(), new.splitlines()
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    if end_a == start:  # lines only inserted: widen by one old line, so the replaced range is not empty
        if start > 0:
            start -= 1
        else:
            end_a, end_b = end_a + 1, end_b + 1
    return start + 1, 1, end_a, len(a[end_a - 1]) + 1, "\n".join(b[start:end_b])
