"""PKL008 rnn-over-padding: a padded batch run through an RNN without packing, then read as if only real steps
were seen.

The engine reports an ``rnn-padding`` event at the RNN call: ``state`` when ``h_n``/``c_n`` of an RNN run over an
unpacked padded batch is used as the sequence's summary (a head, a loss, returned, another RNN's initial state);
``bidirectional`` when the RNN is bidirectional (its backward direction starts in the padding, so every real step
of the backward half, and both directions' ``h_n``, have read it); ``left`` when the batch is padded on the left
(every real step comes after the padding). A unidirectional RNN over right padding whose per-step outputs are
masked or read at ``lengths - 1`` is exact and is not an event.
"""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule, origin


def _where(event: Event) -> str:
    where = origin(event)
    return f" ({where})" if where else ""


def check(event: Event) -> str | None:
    rnn = event.subject or "the RNN"
    if event.status == "bidirectional":
        return (f"bidirectional `{rnn}` runs over a padded batch without packing{_where(event)}: its backward "
                f"direction starts in the padding, so the backward half of every real step and h_n have read it")
    if event.status == "left":
        return (f"`{rnn}` runs over a left-padded batch without packing{_where(event)}: every real step and h_n "
                f"come after the padding and have read it")
    if event.status == "state":
        use = event.detail("use", "used")
        return (f"`{rnn}` runs over a padded batch without packing{_where(event)}; its final state, {use}, has "
                f"stepped through the padding of every shorter sequence")
    return None


RULE = Rule(
    code="PKL008",
    name="rnn-over-padding",
    summary="A padded batch through an RNN without packing, then h_n or the backward half used as if only real "
            "steps were seen.",
    watches=frozenset({"rnn-padding"}),
    suggestion="pack first: rnn(pack_padded_sequence(x, lengths.cpu(), batch_first=..., enforce_sorted=False)); "
               "its h_n is each sequence's state at its last real step",
    check=check,
)
