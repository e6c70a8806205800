"""The code of a length mask, for the fixes that mask padded steps (PKL005, PKL006) or gather at the last real
step (PKL003).

A layout is the engine's string of axes (``B`` batch, ``T`` time, ``F`` features, ``1`` a singleton), e.g. ``BTF``
for a batch-first RNN output. The lengths are wrapped in ``torch.as_tensor(..., device=...)`` so a list of ints and
a CPU tensor (what ``pack_padded_sequence`` wants) both work against a tensor on any device.
"""

from __future__ import annotations

_AXES = frozenset("BTF1")


def usable(layout: object) -> bool:
    """Whether ``layout`` has one batch axis, one time axis, and nothing the mask cannot broadcast over."""
    return isinstance(layout, str) and set(layout) <= _AXES and layout.count("B") == 1 and layout.count("T") == 1


def lengths_tensor(value: str, lengths: str) -> str:
    return f"torch.as_tensor({lengths}, device={value}.device)"


def _index(layout: str, keep: str) -> str:
    return "[" + ", ".join(":" if axis == keep else "None" for axis in layout) + "]"


def padded_steps(value: str, lengths: str, layout: str) -> str:
    """A boolean tensor, True at the padded steps of ``value`` (laid out as ``layout``), broadcastable to it."""
    time = layout.index("T")
    return (f"torch.arange({value}.size({time}), device={value}.device){_index(layout, 'T')} >= "
            f"{lengths_tensor(value, lengths)}{_index(layout, 'B')}")


def lengths_over(value: str, lengths: str, layout: str) -> str:
    """The lengths shaped to divide a sum over time of ``value``: one per row, broadcast over the other axes."""
    kept = layout.replace("T", "")
    index = "" if kept == "B" else _index(kept, "B")
    return f"{lengths_tensor(value, lengths)}{index}"
