"""``assert_batch_invariant``: a sequence's result does not depend on what else is in its batch.

Each sequence is run alone (a batch of one, so no padding at all) and inside the padded batch of all of them, in
the given order and in a shuffled one; its output there must match its output alone. For a per-step output the
real steps are compared, for a pooled one the whole row; for a loss, the batch's loss must be the token mean, the
mean or the sum of the sequences' own losses, and its gradients the same combination of theirs.

The modules ``fn`` uses run in eval mode here (dropout off, batch norm on running statistics), their own
training flags restored afterwards: a batch of one and a batch of six cannot draw the same dropout masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ._common import (
    Diff,
    InconclusiveCheck,
    compare,
    cpu_generator,
    cuda_devices,
    eval_mode,
    explicit_params,
    find_modules,
    fmt,
    gradients,
    graph_leaves,
    import_torch,
    name_leaves,
    parameter_names,
    resolve_tolerances,
    seeded,
    tolerance_line,
)

KINDS = ("per-step", "pooled", "loss")
REDUCTIONS = ("token-mean", "sequence-mean", "sum")
REDUCTION_TEXT = {"token-mean": "token mean (weighted by lengths)", "sequence-mean": "mean over sequences",
                  "sum": "sum"}
COUNTED_TEXT = "token mean (weighted by token_counts)"
SHOWN = 8  # mismatches listed per order


@dataclass
class Mismatch:
    """One sequence whose output (or one component of it) differs in the batch from alone."""

    sequence: int  # index in the caller's list
    length: int
    component: str  # "per-step output", "output[1] (pooled)", "loss", "gradient of 'head.bias'"
    order: str  # "given order" or "shuffled order [..]"
    diff: Diff

    def line(self) -> str:
        if self.sequence < 0 and self.diff.note:
            return f"{self.component}: {self.diff.note}"
        if self.sequence < 0:
            return f"{self.component} differs {self.diff.describe()}"
        return f"sequence {self.sequence} (length {self.length}): {self.component} differs {self.diff.describe()}"


class BatchDependence(AssertionError):
    """A sequence's output in the padded batch differs from its output alone, or the batch's loss is not a token
    mean, mean or sum of the sequences' own losses. ``mismatches`` lists what differed; ``sequences`` the indices."""

    def __init__(self, message: str, mismatches: list[Mismatch]):
        super().__init__(message)
        self.mismatches = mismatches

    @property
    def sequences(self) -> list[int]:
        return sorted({m.sequence for m in self.mismatches if m.sequence >= 0})


def assert_batch_invariant(
    fn: Callable[..., Any],
    sequences: Sequence,
    *,
    output: str | Sequence[str] = "per-step",
    batch_first: bool = True,
    pad_value=0,
    lengths_of=None,
    lengths_key: str = "lengths",
    collate: Callable | None = None,
    reduction: str = "auto",
    token_counts=None,
    model=None,
    shuffle: bool = True,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    check_grads: bool = True,
    params=None,
) -> None:
    """Assert that each sequence's result in the padded batch equals its result alone.

    - ``sequences``: what a dataset yields, one item per sequence, time on axis 0: a tensor ``(n, ...)``, a tuple
      of them (``(tokens, tags)``), or a dict (``{"tokens": ..., "label": ...}``). 0-dim tensors (a label) are
      stacked, other non-tensors listed. At least two different lengths are needed, or there is no padding.
    - ``fn`` is called on a batch built as a collate function would: tensor items ``fn(x, lengths)``, tuple items
      ``fn(*fields, lengths)``, dict items ``fn(batch)`` with ``batch[lengths_key] = lengths``; with ``collate``,
      ``fn(collate(items))``. Fields are padded with ``pad_value`` (a number, or a dict by key/index), batch-first
      unless ``batch_first=False``; ``lengths`` is an int64 tensor on the items' device, taken from the field
      ``lengths_of`` (default: the first one with a time axis).
    - ``output``: what ``fn`` returns: ``"per-step"`` (batch, time, ...) — or (time, batch, ...) when
      ``batch_first=False`` — compared over each sequence's real steps; ``"pooled"`` (batch, ...), one row per
      sequence; ``"loss"``, a scalar. A tuple of kinds describes a tuple output, e.g. ``("pooled", "per-step")`` for
      ``(context, attention_weights)``.
    - ``reduction`` (loss only): ``"token-mean"`` (weights = ``token_counts``, a list or a function of the item,
      default the lengths), ``"sequence-mean"``, ``"sum"``, or ``"auto"``: whichever of them the batch's loss is.
      ``check_grads`` then also compares every parameter's gradient with the same combination of the sequences'.
    - ``model``: the module(s) to put in eval mode; default: the modules ``fn`` refers to (closure, globals,
      bound ``self``). ``fn`` must be deterministic in eval mode.
    - ``shuffle``: also run the batch in a seeded shuffled order (catches sorting without unsorting).

    Raises :class:`BatchDependence` (an ``AssertionError``) naming the sequences whose output differs and by
    how much; ``ValueError`` for an unusable input; :class:`InconclusiveCheck` when ``fn`` is random even in eval mode.
    """
    __tracebackhide__ = True  # pytest shows the failing call in the test, not this function
    torch = import_torch()
    items = list(sequences)
    if len(items) < 2:
        raise ValueError("assert_batch_invariant needs at least two sequences of different lengths")
    kinds = (output,) if isinstance(output, str) else tuple(output)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"output must be one of {', '.join(KINDS)} (or a tuple of them), got {output!r}")
    if "loss" in kinds and len(kinds) > 1:
        raise ValueError("output='loss' describes a scalar loss: it cannot be part of a tuple output")
    if reduction != "auto" and reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'auto' or one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    is_loss = kinds == ("loss",)

    style = _style(torch, items)
    lengths = [_length(torch, item, style, lengths_of) for item in items]
    if len(set(lengths)) < 2:
        raise ValueError(f"every sequence has length {lengths[0]}: the batch would have no padding, so the check "
                         "would prove nothing; include sequences of different lengths")
    device = _device(torch, items)

    def call(idx: list[int]):
        chosen = [items[i] for i in idx]
        if collate is not None:
            return fn(collate(chosen))
        fields, lens = _collate(torch, chosen, style, batch_first, pad_value, lengths_of, device)
        if style == "tensor":
            return fn(fields[0], lens)
        if style == "tuple":
            return fn(*fields, lens)
        return fn({**fields, lengths_key: lens})

    orders = [("given order", list(range(len(items))))]
    if shuffle:
        perm = torch.randperm(len(items), generator=cpu_generator(torch, seed, 7)).tolist()
        if perm == orders[0][1]:
            perm = perm[::-1]
        orders.append((f"shuffled order {perm}", perm))

    modules = find_modules(torch, fn, model)
    devices = cuda_devices(torch, [t for item in items for t in _tensors(torch, item)])
    with eval_mode(modules):
        if is_loss:
            mismatches, context = _check_loss(torch, call, items, lengths, orders, seed, devices, modules, rtol, atol,
                                              reduction, token_counts, check_grads, params)
        else:
            mismatches, context = _check_outputs(torch, call, kinds, lengths, orders, seed, devices, batch_first,
                                                 rtol, atol)
    if mismatches:
        raise BatchDependence(_message(mismatches, lengths, kinds, context, seed, batch_first), mismatches)


# ----- building batches -----------------------------------------------------------------------------------------
def _style(torch, items) -> str:
    if all(torch.is_tensor(i) for i in items):
        return "tensor"
    if all(isinstance(i, dict) for i in items):
        return "dict"
    if all(isinstance(i, (tuple, list)) for i in items):
        return "tuple"
    raise TypeError("sequences must all be tensors, all tuples, or all dicts")


def _fields(item, style):
    if style == "tensor":
        return [(0, item)]
    if style == "tuple":
        return list(enumerate(item))
    return list(item.items())


def _tensors(torch, item):
    return [v for _, v in _fields(item, _style(torch, [item])) if torch.is_tensor(v)]


def _length(torch, item, style, lengths_of) -> int:
    for key, value in _fields(item, style):
        if (lengths_of is None or key == lengths_of) and torch.is_tensor(value) and value.dim() >= 1:
            return int(value.shape[0])
    where = "no tensor with a time axis" if lengths_of is None else f"no field {lengths_of!r} with a time axis"
    raise ValueError(f"cannot tell a sequence's length: it has {where}")


def _device(torch, items):
    for item in items:
        for t in _tensors(torch, item):
            return t.device
    return torch.device("cpu")


def _collate(torch, chosen, style, batch_first, pad_value, lengths_of, device):
    from torch.nn.utils.rnn import pad_sequence

    lens = torch.tensor([_length(torch, item, style, lengths_of) for item in chosen], dtype=torch.long, device=device)
    keys = [k for k, _ in _fields(chosen[0], style)]
    out = {}
    for key in keys:
        values = [dict(_fields(item, style))[key] for item in chosen]
        if all(torch.is_tensor(v) and v.dim() >= 1 for v in values):
            value = pad_value.get(key, 0) if isinstance(pad_value, dict) else pad_value
            out[key] = pad_sequence(values, batch_first=batch_first, padding_value=value)
        elif all(torch.is_tensor(v) and v.dim() == 0 for v in values):
            out[key] = torch.stack(values)
        else:
            out[key] = values
    if style == "dict":
        return out, lens
    return [out[k] for k in keys], lens


# ----- outputs ----------------------------------------------------------------------------------------------------
def _components(torch, result, kinds):
    if len(kinds) == 1 and torch.is_tensor(result):
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != len(kinds):
        got = f"a tuple of {len(result)}" if isinstance(result, (tuple, list)) else type(result).__name__
        raise TypeError(f"fn returned {got}, but output={kinds if len(kinds) > 1 else kinds[0]!r} describes "
                        f"{len(kinds)} tensor(s): pass one kind per returned tensor")
    for r in result:
        if not torch.is_tensor(r):
            raise TypeError(f"fn returned a {type(r).__name__} inside its output; only tensors can be compared")
    return list(result)


def _component_name(kinds, j) -> str:
    return f"{kinds[j]} output" if len(kinds) == 1 else f"output[{j}] ({kinds[j]})"


def _row(out, kind, pos, batch_first):
    """The part of ``out`` that belongs to the sequence at batch position ``pos``."""
    if kind == "per-step":
        return out.select(0 if batch_first else 1, pos)
    return out.select(0, pos)


def _check_outputs(torch, call, kinds, lengths, orders, seed, devices, batch_first, rtol, atol):
    def run(idx, s=seed):
        with seeded(torch, s, devices), torch.no_grad():
            return [t.detach() for t in _components(torch, call(idx), kinds)]

    alone = []
    for i in range(len(lengths)):
        try:
            alone.append(run([i]))
        except Exception as exc:
            exc.add_note(f"packlint.testing: raised on sequence {i} alone (a batch of one, length {lengths[i]})")
            raise
    for j, out in enumerate(alone[0]):
        dim = 1 if kinds[j] == "per-step" and not batch_first else 0
        if out.dim() <= dim or out.shape[dim] != 1:
            raise ValueError(f"{_component_name(kinds, j)} of a batch of one has shape {tuple(out.shape)}: expected "
                             f"the batch on axis {dim} (check output= and batch_first=)")
    tols = [resolve_tolerances(rtol, atol, t.dtype, t.device) for t in alone[0]]

    results = {name: run(idx) for name, idx in orders}
    first_name, first_idx = orders[0]
    again = run(first_idx, seed + 1)
    for j, (a, b) in enumerate(zip(results[first_name], again)):
        d = compare(torch, a, b, *tols[j])
        if not d.ok:
            raise InconclusiveCheck(
                f"fn gives different {_component_name(kinds, j)}s for the same batch under two seeds, even with its "
                f"modules in eval mode: they differ {d.describe()}. It draws random numbers (dropout on a module "
                "this check did not find? pass model=...), so batched and alone results cannot be compared")

    mismatches = []
    for name, idx in orders:
        outs = results[name]
        for pos, i in enumerate(idx):
            for j, kind in enumerate(kinds):
                mine = _row(outs[j], kind, pos, batch_first)
                ref = _row(alone[i][j], kind, 0, batch_first)
                if kind == "per-step":
                    steps = ref.shape[0]
                    if mine.shape[0] < steps:
                        d = Diff(float("inf"), 0.0, 0.0, note=f"has {mine.shape[0]} steps in the batch, {steps} alone")
                        mismatches.append(Mismatch(i, lengths[i], _component_name(kinds, j), name, d))
                        continue
                    mine = mine[:steps]
                d = compare(torch, ref, mine, *tols[j])
                if not d.ok:
                    mismatches.append(Mismatch(i, lengths[i], _component_name(kinds, j), name, d))
    dtype, dev = alone[0][0].dtype, alone[0][0].device
    return mismatches, {"tol": tolerance_line(dtype, dev, *tols[0])}


# ----- losses -----------------------------------------------------------------------------------------------------
def _check_loss(torch, call, items, lengths, orders, seed, devices, modules, rtol, atol, reduction, token_counts,
                check_grads, params):
    names = parameter_names(modules)
    fixed = explicit_params(torch, params) if params is not None else None
    exclude = {id(t) for item in items for t in _tensors(torch, item)}
    state = {"leaves": None}

    def run(idx, s=seed, grads=True):
        with seeded(torch, s, devices):
            loss = call(idx)
            if not torch.is_tensor(loss) or loss.numel() != 1:
                what = f"a tensor of shape {tuple(loss.shape)}" if torch.is_tensor(loss) else type(loss).__name__
                raise TypeError(f"output='loss' needs fn to return a scalar loss, got {what}")
            loss = loss.reshape(())
            if not (grads and check_grads):
                return loss.detach(), []
            if state["leaves"] is None:
                if not loss.requires_grad:
                    raise ValueError("fn's loss does not require grad: call it outside torch.no_grad(), or pass "
                                     "check_grads=False to compare loss values only")
                state["leaves"] = fixed if fixed is not None else name_leaves(
                    [t for t in graph_leaves(loss) if id(t) not in exclude], names)
            return loss.detach(), gradients(torch, loss, [t for _, t in state["leaves"]])

    results = {name: run(idx) for name, idx in orders}
    alone = []
    for i in range(len(items)):
        try:
            alone.append(run([i]))
        except Exception as exc:
            exc.add_note(f"packlint.testing: raised on sequence {i} alone (a batch of one, length {lengths[i]})")
            raise
    first_name, first_idx = orders[0]
    ref_loss = results[first_name][0]
    rtol, atol = resolve_tolerances(rtol, atol, ref_loss.dtype, ref_loss.device)
    tol = tolerance_line(ref_loss.dtype, ref_loss.device, rtol, atol)
    again, _ = run(first_idx, seed + 1, grads=False)
    d = compare(torch, ref_loss, again, rtol, atol)
    if not d.ok:
        raise InconclusiveCheck(
            f"fn gives a different loss for the same batch under two seeds, even with its modules in eval mode "
            f"({fmt(float(ref_loss))} vs {fmt(float(again))}): it draws random numbers (dropout on a module this "
            "check did not find? pass model=...), so batched and alone losses cannot be compared")

    if token_counts is None:
        counts = [float(n) for n in lengths]
    elif callable(token_counts):
        counts = [float(token_counts(item)) for item in items]
    else:
        counts = [float(c) for c in token_counts]
        if len(counts) != len(items):
            raise ValueError(f"token_counts has {len(counts)} entries for {len(items)} sequences")
    weights = {
        "token-mean": [c / sum(counts) for c in counts],
        "sequence-mean": [1.0 / len(items)] * len(items),
        "sum": [1.0] * len(items),
    }
    candidates = REDUCTIONS if reduction == "auto" else (reduction,)

    def combine(w, pieces):
        total = None
        for wi, p in zip(w, pieces):
            term = p.to(torch.float64) * wi
            total = term if total is None else total + term
        return total

    alone_losses = [a[0] for a in alone]
    expected = {r: combine(weights[r], alone_losses) for r in candidates}
    value_matches = [r for r in candidates
                     if all(compare(torch, expected[r], results[name][0], rtol, atol).ok for name, _ in orders)]
    matching = value_matches[0] if value_matches else None

    mismatches: list[Mismatch] = []
    context = {"tol": tol, "alone": [float(x) for x in alone_losses], "counts": counts}
    if matching is None:
        for name, _ in orders:
            got = results[name][0]
            parts = []
            for r in candidates:
                dr = compare(torch, expected[r], got, rtol, atol)
                text = COUNTED_TEXT if r == "token-mean" and token_counts is not None else REDUCTION_TEXT[r]
                parts.append(f"their {text} {fmt(float(expected[r]))} (off by {dr.moved:.3g})")
                if r == candidates[0]:
                    first = dr
            note = f"{fmt(float(got))} is none of: " + ", ".join(parts)
            mismatches.append(Mismatch(-1, 0, "the batch's loss", name,
                                       Diff(first.moved, first.scale, first.allowed, note=note)))
        return mismatches, context

    context["reduction"] = matching
    if not (check_grads and state["leaves"]):
        return mismatches, context
    # the loss may match more than one reduction by coincidence: pass if the gradients match any of them
    for r in value_matches:
        found = []
        for name, _ in orders:
            grads = results[name][1]
            for k, (pname, _) in enumerate(state["leaves"]):
                want = combine(weights[r], [a[1][k] for a in alone])
                dg = compare(torch, want, grads[k], rtol, atol)
                if not dg.ok:
                    found.append(Mismatch(-1, 0, f"gradient of {pname!r}", name, dg))
        if not found:
            return [], context
        if r == matching:
            mismatches = found
    return mismatches, context


# ----- the message --------------------------------------------------------------------------------------------
def _message(mismatches, lengths, kinds, context, seed, batch_first) -> str:
    longest = max(lengths)
    first = mismatches[0]
    if kinds == ("loss",):
        if first.component == "the batch's loss":
            head = ("batch dependence: the padded batch's loss is not what its sequences give alone (each run as a "
                    "batch of one): padding counts in the loss or in its normalisation, or the batch mixes sequences")
        else:
            worst = max(mismatches, key=lambda m: m.diff.relative)
            head = (f"batch dependence: the batch's loss is the {REDUCTION_TEXT[context['reduction']]} of the "
                    f"sequences' own losses, but the {worst.component} differs from the same combination of theirs "
                    f"{worst.diff.describe()}")
    else:
        worst = max(mismatches, key=lambda m: m.diff.relative)
        head = (f"batch dependence: sequence {worst.sequence} (length {worst.length}, the batch's longest is "
                f"{longest}) gives a different {worst.component} in the padded batch than alone, "
                f"{worst.diff.describe()}")
    lines = [head, ""]
    orders = list(dict.fromkeys(m.order for m in mismatches))
    first_keys = None
    for order in orders:
        mine = sorted((m for m in mismatches if m.order == order), key=lambda m: m.sequence)
        keys = [(m.sequence, m.component) for m in mine]
        if first_keys is None:
            first_keys = keys
        elif keys == first_keys:
            lines.append(f"{order}: the same {len(mine)} {'differ' if len(mine) > 1 else 'differs'}")
            continue
        lines.append(f"{order}:")
        lines += [f"  {m.line()}" for m in mine[:SHOWN]]
        if len(mine) > SHOWN:
            lines.append(f"  ... and {len(mine) - SHOWN} more")
    if kinds != ("loss",):
        bad = {m.sequence for m in mismatches}
        agree = [f"{i} (length {n})" for i, n in enumerate(lengths) if i not in bad]
        if agree:
            lines.append(f"sequences that agree: {', '.join(agree)}")
    else:
        lines.append("the sequences' own losses: " + ", ".join(fmt(x) for x in context["alone"]))
    layout = "batch-first" if batch_first else "time-major"
    lines.append(f"lengths {lengths}, {layout}; seed {seed}; {context['tol']}")
    return "\n".join(lines)


__all__ = ["assert_batch_invariant", "BatchDependence", "Mismatch"]
