"""The bench every case runs on: seeded float64 models, ragged batches, and the three kinds of measurement.

A case module describes *what* to compare (its model, reference, bad and good variants); this module does the
comparing the same way for every rule, so a figure in the docs always means the same thing:

- losses: the loss value (relative error), the gradient of every parameter (relative error, worst parameter),
  and the share of the gradient that lands on padded steps of a probed layer's output;
- tensors: a quantity computed from a variant's output against the reference's (final states, pooled features,
  attention weights), without gradients;
- training: a short deterministic training run per variant on a synthetic task, scored on held-out data.

This module imports torch; only :func:`packlint.selfcheck.run_selfcheck` imports it, and only after checking
that torch is there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from .results import GOOD_TOLERANCE, Measure, Row

# Stated tolerances: how far a bad variant must be from the reference for a row to count as a real difference.
# Each is three or more orders of magnitude above float64 noise and above GOOD_TOLERANCE.
LOSS_TOLERANCE = 1e-3  # relative error of the loss value
GRAD_TOLERANCE = 1e-2  # relative error of the worst parameter's gradient
PAD_SHARE_TOLERANCE = 1e-3  # share of |dL/d(probe output)| sitting on padded steps
ACCURACY_DROP = 0.05  # held-out accuracy the bad variant must lose (seed-to-seed spread is about 0.02)
ACCURACY_MARGIN = 0.02  # held-out accuracy a good variant may differ by


@dataclass
class Variant:
    """A named computation on a model: a method looked up on the model at call time, or a function.

    Looking methods up by name when called (not when declared) lets a test replace one variant on its class
    and watch the verdict change.
    """

    name: str
    target: Any
    args: tuple = ()

    def __call__(self, model, *extra):
        if isinstance(self.target, str):
            return getattr(model, self.target)(*self.args, *extra)
        return self.target(model, *self.args, *extra)


@dataclass
class Task:
    """A synthetic classification task: padded token batches, their lengths, one label per sequence."""

    x_train: torch.Tensor
    lengths_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    lengths_test: torch.Tensor
    y_test: torch.Tensor


class Lab:
    """Holds the device and seed of one self-check run and measures variants for the case modules."""

    def __init__(self, device: str = "cpu", seed: int = 0):
        self.device = torch.device(device)
        self.seed = seed

    # ----- building blocks -----------------------------------------------------------------------------
    def method(self, name: str, *args) -> Variant:
        """A variant written as a method of the case's model class: ``model.<name>(*args)``."""
        return Variant(name, name, args)

    def function(self, fn: Callable, *args, name: str | None = None) -> Variant:
        """A variant (or reference) written as a function taking the model first: ``fn(model, *args)``."""
        return Variant(name or fn.__name__, fn, args)

    def model(self, cls, *args, **kwargs):
        """A fresh model with the run's seed, so every variant of a case starts from the same weights."""
        torch.manual_seed(self.seed)
        return cls(*args, **kwargs).to(self.device)

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1000 + offset)

    def lengths(self, values) -> torch.Tensor:
        return torch.tensor(values, device=self.device)

    def mask(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) True at real steps, T the longest length."""
        return torch.arange(int(lengths.max()), device=lengths.device)[None, :] < lengths[:, None]

    def tokens(self, lengths: torch.Tensor, vocab: int, offset: int = 0) -> torch.Tensor:
        """Token ids in [1, vocab) at real steps and 0 (the padding token) elsewhere, shape (B, T)."""
        gen = self.generator(offset)
        ids = torch.randint(1, vocab, (len(lengths), int(lengths.max())), generator=gen).to(self.device)
        return ids.masked_fill(~self.mask(lengths), 0)

    def sequences(self, lengths: torch.Tensor, low: int, high: int, offset: int = 0) -> list[torch.Tensor]:
        """One 1-D integer tensor per sequence, drawn in [low, high), at its true length (what a dataset yields)."""
        gen = self.generator(offset)
        return [torch.randint(low, high, (int(n),), generator=gen).to(self.device) for n in lengths.tolist()]

    def real_values(self, lengths: torch.Tensor, offset: int = 0) -> list[torch.Tensor]:
        """One 1-D float tensor of standard normal values per sequence, at its true length."""
        gen = self.generator(offset)
        return [torch.randn(int(n), generator=gen).to(self.device) for n in lengths.tolist()]

    def features(self, lengths: torch.Tensor, n_features: int, offset: int = 0) -> torch.Tensor:
        """(B, T, n_features) standard normal features at real steps, zeros past each length."""
        gen = self.generator(offset)
        feats = torch.randn(len(lengths), int(lengths.max()), n_features, generator=gen).to(self.device)
        return feats * self.mask(lengths).unsqueeze(-1)

    def pad(self, sequences: list[torch.Tensor], value) -> torch.Tensor:
        """Sequences stacked batch-first and padded with ``value``, as a collate function does."""
        return pad_sequence(sequences, batch_first=True, padding_value=value)

    # ----- losses --------------------------------------------------------------------------------------
    def _loss_run(self, model, variant: Variant, lengths: torch.Tensor | None, probe: str | None):
        captured: list[torch.Tensor] = []
        handle = None
        if probe is not None:
            def keep_grad(_module, _inputs, output):
                if isinstance(output, torch.Tensor) and output.requires_grad:
                    output.register_hook(captured.append)
            handle = getattr(model, probe).register_forward_hook(keep_grad)
        try:
            model.zero_grad(set_to_none=True)
            loss = variant(model)
            loss.backward()
        finally:
            if handle is not None:
                handle.remove()
        grads = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                 for n, p in model.named_parameters()}
        share = self._pad_share(captured, lengths) if probe is not None else None
        return float(loss.detach()), grads, share

    def _pad_share(self, grads: list[torch.Tensor], lengths: torch.Tensor) -> float:
        """Share of |dL/d output| of the probed layer that sits on padded steps, over all its calls.

        An output laid out (B, T, ...) or (T, B, ...) has padded steps where the length mask is False; any other
        shape (a packed ``.data``, a single sequence, ``h_n``) has none.
        """
        mask = self.mask(lengths)
        b, t = mask.shape
        pad = total = 0.0
        for g in grads:
            g = g.abs()
            total += float(g.sum())
            if g.dim() >= 2 and tuple(g.shape[:2]) == (b, t):
                pad += float(g[~mask].sum())
            elif g.dim() >= 2 and tuple(g.shape[:2]) == (t, b) and t != b:
                pad += float(g.transpose(0, 1)[~mask].sum())
        return pad / total if total > 0 else 0.0

    def compare_losses(self, rule: str, case: str, model, reference: Variant, bad: Variant | None,
                       goods: list[Variant], *, lengths: torch.Tensor | None = None, probe: str | None = None,
                       note: str = "", info: bool = False) -> list[Row]:
        """Rows for the loss value, the gradients and (with a probe) the gradient share on padded steps.

        With ``info=True`` the rows only report (a legitimate alternative measured against another reference)
        and never count towards the verdict.
        """
        ref_loss, ref_grads, _ = self._loss_run(model, reference, lengths, probe)
        runs = {}
        for v in ([bad] if bad else []) + goods:
            runs[v.name] = self._loss_run(model, v, lengths, probe)

        def loss_dev(name):
            return abs(runs[name][0] - ref_loss) / max(abs(ref_loss), 1e-300)

        def grad_dev(name):
            return max(_rel(runs[name][1][p], g) for p, g in ref_grads.items())

        rows = [
            Row(rule, case, "loss (relative error)", LOSS_TOLERANCE if bad else None,
                Measure(bad.name, loss_dev(bad.name), runs[bad.name][0]) if bad else None,
                [Measure(g.name, loss_dev(g.name), runs[g.name][0]) for g in goods],
                reference_value=ref_loss, note=note),
            Row(rule, case, "gradient (relative error, worst parameter)", GRAD_TOLERANCE if bad else None,
                Measure(bad.name, grad_dev(bad.name)) if bad else None,
                [Measure(g.name, grad_dev(g.name)) for g in goods]),
        ]
        if probe is not None:
            rows.append(Row(
                rule, case, f"gradient share on padded steps of {probe} output",
                PAD_SHARE_TOLERANCE if bad else None,
                Measure(bad.name, runs[bad.name][2], runs[bad.name][2]) if bad else None,
                [Measure(g.name, runs[g.name][2], runs[g.name][2]) for g in goods],
                reference_value=0.0))
        if info:
            for row in rows:
                row.kind = "info"
        return rows

    def compare_scale(self, rule: str, case: str, model, reference: Callable, bad: str | None,
                      goods: list[str], batches: list[tuple], *, tolerance: float, note: str = "") -> Row:
        """One row: each variant's loss divided by the reference's, on batches that differ only in padding.

        The deviation is the largest |ratio - 1| over the batches; the value is the spread of the ratio
        (largest minus smallest), which is what makes a loss curve depend on batch composition.
        """
        def ratios(name):
            with torch.no_grad():
                return [float(getattr(model, name)(*args) / reference(model, *args)) for args in batches]

        def measure(name):
            r = ratios(name)
            return Measure(name, max(abs(x - 1.0) for x in r), max(r) - min(r)), r

        bad_measure, bad_ratios = measure(bad) if bad else (None, [])
        goods_measured = [measure(g)[0] for g in goods]
        if bad_ratios:
            note = (note + " " if note else "") + "bad ratios per batch: " + ", ".join(f"{x:.3f}" for x in bad_ratios)
        return Row(rule, case, f"loss / reference over {len(batches)} batches (max |ratio - 1|)",
                   tolerance if bad else None, bad_measure, goods_measured, reference_value=1.0, note=note)

    # ----- tensors -------------------------------------------------------------------------------------
    def compare_outputs(self, rule: str, case: str, quantity: str, model, reference: Variant,
                        bad: Variant | None, goods: list[Variant], *, tolerance: float,
                        deviation: Callable | None = None, value: Callable | None = None,
                        note: str = "") -> Row:
        """One row comparing what each variant returns with what the reference returns, without gradients.

        ``deviation(out, ref)`` defaults to the largest absolute difference; ``value(out)`` is an optional raw
        figure reported beside it (e.g. the attention mass on padding).
        """
        deviation = deviation or (lambda out, ref: float((out - ref).abs().max()))
        with torch.no_grad():
            ref_out = reference(model)

            def measure(v):
                out = v(model)
                return Measure(v.name, deviation(out, ref_out), value(out) if value else None)

            return Row(rule, case, quantity, tolerance if bad else None,
                       measure(bad) if bad else None, [measure(g) for g in goods],
                       reference_value=value(ref_out) if value else None, note=note)

    # ----- training ------------------------------------------------------------------------------------
    def task(self, make_batch: Callable, n_train: int, n_test: int) -> Task:
        """A train and a held-out split from ``make_batch(n, generator) -> (x, lengths, y)``."""
        x, lengths, y = make_batch(n_train, self.generator(101))
        xt, lengths_t, yt = make_batch(n_test, self.generator(202))
        d = self.device
        return Task(x.to(d), lengths.to(d), y.to(d), xt.to(d), lengths_t.to(d), yt.to(d))

    def train_accuracy(self, make_model: Callable, variant: Variant, task: Task, *, steps: int,
                       batch: int = 32, lr: float = 1e-2) -> float:
        """Train a fresh seeded model for ``steps`` Adam steps through ``variant(model, x, lengths) -> logits``.

        Every variant sees the same initial weights and the same batches, each cut to its own longest sequence
        as a collate function would; the score is accuracy on the held-out split.
        """
        torch.manual_seed(self.seed)
        model = make_model().to(self.device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = self.generator(303)
        n = len(task.y_train)
        for _ in range(steps):
            idx = torch.randint(n, (batch,), generator=gen).to(self.device)
            x, lengths, y = _cut(task.x_train, task.lengths_train, task.y_train, idx)
            loss = F.cross_entropy(variant(model, x, lengths), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(task.y_test), 256):
                idx = torch.arange(start, min(start + 256, len(task.y_test)), device=self.device)
                x, lengths, y = _cut(task.x_test, task.lengths_test, task.y_test, idx)
                correct += int((variant(model, x, lengths).argmax(-1) == y).sum())
        return correct / len(task.y_test)

    def compare_training(self, rule: str, case: str, make_model: Callable, task: Task, reference: Variant,
                         bad: Variant, goods: list[Variant], *, steps: int, batch: int = 32,
                         lr: float = 1e-2, note: str = "", info: bool = False) -> Row:
        """One row: held-out accuracy of the bad and good variants, as a drop from the reference's.

        ``info=True`` reports the figures without letting them decide the verdict, for an effect that is real
        but too small, or too dependent on seed and hardware, to be a dependable pass/fail line.
        """
        def acc(v):
            return self.train_accuracy(make_model, v, task, steps=steps, batch=batch, lr=lr)

        ref = acc(reference)
        bad_acc = acc(bad)
        good_accs = {g.name: acc(g) for g in goods}
        return Row(rule, case, f"held-out accuracy after {steps} steps (drop from reference)", ACCURACY_DROP,
                   Measure(bad.name, ref - bad_acc, bad_acc),
                   [Measure(n, abs(ref - a), a) for n, a in good_accs.items()],
                   good_tolerance=ACCURACY_MARGIN, reference_value=ref, note=note,
                   kind="info" if info else "check")


def _cut(x, lengths, y, idx):
    lengths = lengths[idx]
    return x[idx, : int(lengths.max())], lengths, y[idx]


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative error ||a - ref|| / ||ref||; when the reference gradient is zero, the absolute norm of ``a``."""
    num = float((a - ref).norm())
    den = float(ref.norm())
    if den == 0.0:
        return num
    out = num / den
    return out if not math.isnan(out) else math.inf


__all__ = ["Lab", "Variant", "Task", "GOOD_TOLERANCE"]
