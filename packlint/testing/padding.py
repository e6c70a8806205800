"""``assert_padding_invariant``: a correct loss and its gradients do not depend on what sits in padded positions.

The loss is computed on the batch as given, then on copies in which the padded positions of one named tensor at
a time are overwritten (random values, other ids, another padding value). Every run starts from the same seed, so
dropout draws the same masks each time and the runs differ only in the padding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ._common import (
    Diff,
    InconclusiveCheck,
    compare,
    cpu_generator,
    cuda_devices,
    explicit_params,
    find_modules,
    fmt,
    gradients,
    graph_leaves,
    import_torch,
    name_leaves,
    non_finite,
    parameter_names,
    resolve_tolerances,
    seeded,
    tolerance_line,
)

SHOWN_PER_FAILURE = 5  # parameters listed under one perturbation; the rest are counted


@dataclass
class Moved:
    """The loss or one parameter's gradient, and how far it moved."""

    what: str  # "loss" or a parameter's name
    diff: Diff
    before: float | None = None
    after: float | None = None

    @property
    def is_loss(self) -> bool:
        return self.before is not None

    def line(self) -> str:
        if self.is_loss:
            return (f"loss changed by {self.diff.moved:.3g} ({fmt(self.before)} -> {fmt(self.after)}; "
                    f"allowed {self.diff.allowed:.2g})")
        return f"gradient of {self.what!r} moved {self.diff.describe()}"


@dataclass
class PaddingFailure:
    """One perturbation of one tensor that changed the loss or a gradient (or made ``fn`` raise)."""

    tensor: str
    perturbation: str
    moved: list[Moved] = field(default_factory=list)
    error: str | None = None

    @property
    def parameters(self) -> list[str]:
        return [m.what for m in self.moved if not m.is_loss]


class PaddingLeak(AssertionError):
    """The loss or a gradient changed when only padded positions changed.

    ``failures`` lists each (tensor, perturbation) that did it with what moved; ``tensors`` and ``parameters`` are
    the names involved, worst first.
    """

    def __init__(self, message: str, failures: list[PaddingFailure]):
        super().__init__(message)
        self.failures = failures

    @property
    def tensors(self) -> list[str]:
        return list(dict.fromkeys(f.tensor for f in self.failures))

    @property
    def parameters(self) -> list[str]:
        return list(dict.fromkeys(p for f in self.failures for p in f.parameters))


def assert_padding_invariant(
    fn: Callable[[Any], Any],
    batch,
    lengths,
    padded,
    *,
    batch_first: bool = True,
    pad_values: dict | None = None,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    check_grads: bool = True,
    params=None,
    trials: int = 1,
) -> None:
    """Assert that ``fn(batch)``, a scalar loss, and the gradient of every parameter are unchanged when the padded
    positions of the tensors named in ``padded`` are overwritten.

    - ``batch``: a dict (or a tuple/list, then names are indices) passed to ``fn`` as one argument; ``fn`` is
      called on the batch as given and on copies, never on a modified original.
    - ``lengths``: the true length of each sequence, as the name of an entry of ``batch``, a tensor or a list of
      ints; or a dict giving each padded tensor its own (CTC targets have their own lengths).
    - ``padded``: the name, or names, of the tensors whose positions at or past each length are padding. Their
      layout is ``(batch, time, ...)`` with ``batch_first=True``, ``(time, batch, ...)`` otherwise.
    - ``pad_values``: ``{name: value or [values]}``: for that tensor, try exactly these constant fills instead of the
      default perturbations (random values for floats, random ids within the real positions' range for integers,
      random booleans, and two other constant fills). Use it for a tensor whose padding value is itself the mask,
      such as targets padded with the loss's ``ignore_index``: ``pad_values={"tags": -100}``.
    - ``seed``: the perturbations and every run of ``fn`` (dropout included) are seeded with it; the caller's
      RNG states (torch CPU and CUDA, ``random``, numpy) are restored afterwards.
    - ``rtol``/``atol``: defaults scaled for the loss's dtype and device (see :func:`packlint.testing.tolerances`).
    - ``check_grads``: also compare the gradient of every parameter the loss reaches (found through the autograd
      graph, named from the ``nn.Module`` objects ``fn`` refers to), or of ``params`` (a module, a dict, (name,
      tensor) pairs or tensors) when given. Gradients are taken with ``torch.autograd.grad``: ``.grad`` is untouched.
    - ``trials``: how many random draws per tensor.

    Raises :class:`PaddingLeak` (an ``AssertionError``) naming the tensor whose padding moved the loss or which
    parameters' gradients, by how much; ``ValueError`` when the batch has no padding or a name is wrong;
    :class:`InconclusiveCheck` when ``fn`` is not reproducible under a fixed seed.
    """
    __tracebackhide__ = True  # pytest shows the failing call in the test, not this function
    torch = import_torch()
    keys = [padded] if isinstance(padded, (str, int)) else list(padded)
    if not keys:
        raise ValueError("padded names no tensor: give the names of the padded tensors in the batch")
    get, replace, label = _accessors(batch)
    for key in keys:
        t = get(key)
        if not torch.is_tensor(t):
            raise TypeError(f"{label(key)} is a {type(t).__name__}, not a tensor")
        if t.dim() < 2:
            raise ValueError(f"{label(key)} has shape {tuple(t.shape)}: a padded tensor has a batch and a time axis")
    lengths_for, lengths_text = _resolve_lengths(torch, batch, get, label, lengths, keys)
    pad_values = dict(pad_values or {})
    unknown = [k for k in pad_values if k not in keys]
    if unknown:
        raise ValueError(f"pad_values names {', '.join(map(repr, unknown))}, not in padded={keys!r}")

    masks, perturbations = {}, []
    for i, key in enumerate(keys):
        t = get(key)
        pad2d, pad = _padding_mask(torch, t, lengths_for[key], batch_first, label(key))
        masks[key] = (int(pad2d.sum()), pad2d.numel())
        if masks[key][0]:
            gen = cpu_generator(torch, seed, i)
            for desc, new in _perturbations(torch, t, pad, pad_values.get(key), gen, trials,
                                            has_constants=key in pad_values):
                perturbations.append((key, desc, new))
    if not any(n for n, _ in masks.values()):
        raise ValueError(f"the batch has no padded positions (lengths {lengths_text} fill every named tensor): a "
                         "check on it would prove nothing; make some sequences shorter than the longest")

    tensors = [v for v in _values(batch) if torch.is_tensor(v)]
    devices = cuda_devices(torch, tensors)
    names = parameter_names(find_modules(torch, fn))
    fixed = explicit_params(torch, params) if params is not None else None
    exclude = {id(t) for t in tensors}

    def run(b, leaves):
        with seeded(torch, seed, devices):
            loss = _scalar(torch, fn(b))
            if leaves is None:
                leaves = []
                if check_grads:
                    if not loss.requires_grad:
                        raise ValueError("fn's loss does not require grad, so no gradient can be compared: call it "
                                         "outside torch.no_grad(), or pass check_grads=False to compare the loss only")
                    leaves = fixed if fixed is not None else name_leaves(
                        [t for t in graph_leaves(loss) if id(t) not in exclude], names)
            grads = gradients(torch, loss, [t for _, t in leaves]) if check_grads else []
        return loss.detach(), leaves, grads

    ref_loss, leaves, ref_grads = run(batch, None)
    rtol, atol = resolve_tolerances(rtol, atol, ref_loss.dtype, ref_loss.device)
    tol_text = tolerance_line(ref_loss.dtype, ref_loss.device, rtol, atol)
    _require_finite(torch, ref_loss, leaves, ref_grads)
    again_loss, _, again_grads = run(batch, leaves)
    noise = _moved(torch, ref_loss, ref_grads, again_loss, again_grads, leaves, rtol, atol)
    if noise:
        raise InconclusiveCheck(
            "fn gives different results on the same batch under the same seed, so a change under perturbed padding "
            f"would prove nothing: {noise[0].line()}. Randomness outside torch/random/numpy, or nondeterministic "
            f"kernels beyond the tolerance ({tol_text}); pass rtol/atol or make fn deterministic.")

    failures: list[PaddingFailure] = []
    for key, desc, new in perturbations:
        copy = replace(key, new)
        try:
            loss, _, grads = run(copy, leaves)
        except Exception as exc:  # the padding's contents made fn fail: a dependence on padding too
            failures.append(PaddingFailure(label(key), desc, error=f"{type(exc).__name__}: {exc}"))
            continue
        moved = _moved(torch, ref_loss, ref_grads, loss, grads, leaves, rtol, atol)
        if moved:
            failures.append(PaddingFailure(label(key), desc, moved))
    if failures:
        layout = "batch-first" if batch_first else "time-major"
        raise PaddingLeak(_message(failures, keys, label, masks, perturbations, layout, lengths_text, seed,
                                   tol_text, check_grads), failures)


# ----- the batch --------------------------------------------------------------------------------------------------
def _accessors(batch):
    if isinstance(batch, dict):
        def replace(key, value):
            out = dict(batch)
            out[key] = value
            return type(batch)(out) if type(batch) is not dict else out
        return (lambda k: _lookup(batch, k)), replace, (lambda k: repr(k))
    if isinstance(batch, (tuple, list)):
        def replace(key, value):
            out = list(batch)
            out[key] = value
            return type(batch)(out) if not hasattr(batch, "_fields") else type(batch)(*out)
        return (lambda k: _lookup(batch, k)), replace, (lambda k: f"batch[{k}]")
    raise TypeError(f"batch must be a dict, tuple or list (fn receives it as one argument), got {type(batch).__name__}")


def _lookup(batch, key):
    try:
        return batch[key]
    except (KeyError, IndexError, TypeError):
        have = list(batch) if isinstance(batch, dict) else f"{len(batch)} entries"
        raise ValueError(f"the batch has no entry {key!r} (it has {have})") from None


def _values(batch):
    return list(batch.values()) if isinstance(batch, dict) else list(batch)


def _resolve_lengths(torch, batch, get, label, lengths, keys):
    """key -> 1-D int64 tensor of lengths on that tensor's device; and the lengths as text for messages."""
    def one(spec):
        if isinstance(spec, (str, int)) and not isinstance(spec, bool):
            if spec in keys:
                raise ValueError(f"{label(spec)} is both the lengths and a padded tensor")
            spec = get(spec)
        t = spec if torch.is_tensor(spec) else torch.tensor(list(spec))
        if t.dim() != 1 or t.is_floating_point() or t.is_complex():
            raise ValueError(f"lengths must be a 1-D integer tensor or list, got {t.dtype} of shape {tuple(t.shape)}")
        return t.long()

    if isinstance(lengths, dict):
        missing = [k for k in keys if k not in lengths]
        if missing:
            raise ValueError(f"lengths gives no lengths for {', '.join(label(k) for k in missing)}")
        out = {k: one(lengths[k]) for k in keys}
    else:
        shared = one(lengths)
        out = {k: shared for k in keys}
    texts = list(dict.fromkeys(str(v.tolist()) for v in out.values()))
    return {k: v.to(get(k).device) for k, v in out.items()}, " / ".join(texts)


def _padding_mask(torch, t, lengths, batch_first, name):
    """((B, T) or (T, B) padded-positions mask in ``t``'s layout, the same expanded to ``t``'s shape)."""
    b_dim, t_dim = (0, 1) if batch_first else (1, 0)
    if t.shape[b_dim] != len(lengths):
        other = "False" if batch_first else "True"
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}: its batch axis ({b_dim} with batch_first={batch_first}) holds "
            f"{t.shape[b_dim]} entries but there are {len(lengths)} lengths (is it batch_first={other}?)")
    if len(lengths) and int(lengths.max()) > t.shape[t_dim]:
        raise ValueError(f"{name} has {t.shape[t_dim]} steps on its time axis ({t_dim}), fewer than the longest "
                         f"length {int(lengths.max())}")
    steps = torch.arange(t.shape[t_dim], device=t.device)
    pad = steps[None, :] >= lengths[:, None]
    if not batch_first:
        pad = pad.transpose(0, 1)
    full = pad.reshape(tuple(pad.shape) + (1,) * (t.dim() - 2)).expand(t.shape)
    return pad, full


def _perturbations(torch, t, pad, constants, gen, trials, has_constants):
    """(description, new tensor) pairs; each differs from ``t`` at padded positions only, and from ``t``."""
    out = []
    real = t[~pad]
    if has_constants:
        values = constants if isinstance(constants, (list, tuple)) else [constants]
        out += [(f"the constant {c!r}", t.masked_fill(pad, c)) for c in values]
    elif t.dtype == torch.bool:
        for _ in range(trials):
            bits = torch.randint(0, 2, tuple(t.shape), generator=gen).bool().to(t.device)
            out.append(("random booleans", torch.where(pad, bits, t)))
        out += [(f"the constant {c}", t.masked_fill(pad, c)) for c in (True, False)]
    elif t.is_floating_point():
        finite = real[torch.isfinite(real)]
        scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
        for _ in range(trials):
            noise = (torch.randn(tuple(t.shape), generator=gen, dtype=torch.float64) * scale).to(t.dtype).to(t.device)
            out.append((f"random values (normal, std {scale:.3g})", torch.where(pad, noise, t)))
        out += [(f"the constant {c}", t.masked_fill(pad, c)) for c in (0.0, 1.0)]
    elif t.is_complex():
        for _ in range(trials):
            noise = torch.randn(tuple(t.shape), generator=gen, dtype=torch.complex128).to(t.dtype).to(t.device)
            out.append(("random complex values", torch.where(pad, noise, t)))
    else:
        lo, hi = (int(real.min()), int(real.max())) if real.numel() else (0, 0)
        for _ in range(trials):
            ids = torch.randint(lo, hi + 1, tuple(t.shape), generator=gen).to(t.dtype).to(t.device)
            out.append((f"random ids in [{lo}, {hi}] (the range of its real positions)", torch.where(pad, ids, t)))
        out += [(f"the constant {c}", t.masked_fill(pad, c)) for c in dict.fromkeys((lo, hi))]
    kept, seen = [], set()
    for desc, new in out:
        if desc in seen and not desc.startswith("random"):
            continue
        seen.add(desc)
        if not torch.equal(new, t):
            kept.append((desc, new))
    return kept


# ----- runs ---------------------------------------------------------------------------------------------------
def _scalar(torch, loss):
    if not torch.is_tensor(loss) or loss.numel() != 1:
        what = f"a tensor of shape {tuple(loss.shape)}" if torch.is_tensor(loss) else type(loss).__name__
        raise TypeError(f"fn must return a scalar loss tensor, got {what} (for per-sequence outputs use "
                        "assert_batch_invariant)")
    return loss.reshape(())


def _require_finite(torch, loss, leaves, grads):
    if non_finite(torch, loss):
        raise AssertionError(f"the loss is {float(loss)} on the batch as given, before any perturbation: padding "
                             "filled with -inf, or an unmasked log/softmax over padding? The check needs a finite loss.")
    for (name, _), g in zip(leaves, grads):
        if non_finite(torch, g):
            raise AssertionError(
                f"the gradient of {name!r} is not finite on the batch as given, before any perturbation "
                "(padding_value=-inf before a Linear, or a softmax over all -inf?): fix that first; the check "
                "needs finite gradients")


def _moved(torch, ref_loss, ref_grads, loss, grads, leaves, rtol, atol) -> list[Moved]:
    """What moved beyond tolerance: the loss first, then gradients, the largest relative move first."""
    out = []
    d = compare(torch, ref_loss, loss, rtol, atol)
    if not d.ok:
        out.append(Moved("loss", d, float(ref_loss), float(loss)))
    moved = []
    for (name, _), g0, g1 in zip(leaves, ref_grads, grads):
        d = compare(torch, g0, g1, rtol, atol)
        if not d.ok:
            moved.append(Moved(name, d))
    moved.sort(key=lambda m: -m.diff.relative)
    return out + moved


# ----- the message --------------------------------------------------------------------------------------------
def _headline(failures: list[PaddingFailure]) -> str:
    grads = [(m, f) for f in failures for m in f.moved if not m.is_loss]
    if grads:
        m, f = max(grads, key=lambda mf: mf[0].diff.relative)
        return (f"padding leaks into the gradients: the gradient of {m.what!r} moved by {m.diff.moved:.3g} "
                f"({m.diff.relative:.1%} of its largest entry) when the padded positions of {f.tensor} were "
                f"overwritten with {f.perturbation}")
    losses = [(m, f) for f in failures for m in f.moved if m.is_loss]
    if losses:
        m, f = max(losses, key=lambda mf: mf[0].diff.moved)
        return (f"padding leaks into the loss: it changed by {m.diff.moved:.3g} ({fmt(m.before)} -> {fmt(m.after)}) "
                f"when the padded positions of {f.tensor} were overwritten with {f.perturbation}")
    f = failures[0]
    return f"fn depends on padding: it raised {f.error} when the padded positions of {f.tensor} held {f.perturbation}"


def _message(failures, keys, label, masks, perturbations, layout, lengths_text, seed, tol_text, check_grads) -> str:
    lines = [_headline(failures), ""]
    for key in keys:
        mine = [f for f in failures if f.tensor == label(key)]
        if not mine:
            continue
        n_pad, n_all = masks[key]
        lines.append(f"{label(key)}: {n_pad} of {n_all} positions padded")
        for f in mine:
            lines.append(f"  overwritten with {f.perturbation}:")
            if f.error:
                lines.append(f"    fn raised {f.error}")
                continue
            shown = [m for m in f.moved if m.is_loss] + [m for m in f.moved if not m.is_loss][:SHOWN_PER_FAILURE]
            lines += [f"    {m.line()}" for m in shown]
            hidden = len(f.moved) - len(shown)
            if hidden:
                lines.append(f"    ... and the gradients of {hidden} more parameters")
            if not any(m.is_loss for m in f.moved):
                lines.append("    loss unchanged (within tolerance)")
    clean = [k for k in keys if not any(f.tensor == label(k) for f in failures)]
    for key in clean:
        n = sum(1 for k, _, _ in perturbations if k == key)
        what = "no padded positions" if not masks[key][0] else f"{n} perturbations, nothing moved"
        lines.append(f"{label(key)}: {what}")
    checked = "the loss and every parameter's gradient" if check_grads else "the loss (check_grads=False)"
    lines.append(f"compared {checked}; lengths {lengths_text}, {layout}; seed {seed}; {tol_text}")
    return "\n".join(lines)


__all__ = ["assert_padding_invariant", "PaddingLeak", "PaddingFailure", "Moved", "InconclusiveCheck"]
