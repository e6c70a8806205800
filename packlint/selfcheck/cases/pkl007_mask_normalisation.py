"""Evidence for PKL007 mask-normalisation: a masked per-token loss reduced with ``.mean()``.

``(loss * mask).mean()`` zeroes the padded steps but still divides by B * T, so the loss and every gradient
are scaled by the share of real tokens in the batch: the same sequences give a different loss when batched
with longer or shorter ones. Dividing by the mask's count (``mask.sum()``, ``lengths.sum()``) is the token
mean; a plain ``.sum()`` is the token sum; per-sequence means averaged over the batch are a different weighting
(each sequence counts equally), each exact against its own reference. The reference runs each sequence alone.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN, TAGS = 12, 8, 16, 5


class Tagger(nn.Module):
    """Embedding -> GRU -> Linear, one tag per token; targets padded with 0, a real tag."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, TAGS)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)

    def bad_masked_mean(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = (per_step * mask).mean()  # expect: PKL007
        return loss

    def good_over_mask_sum(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = (per_step * mask).sum() / mask.sum()
        return loss

    def good_over_lengths_sum(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = per_step.masked_fill(~mask, 0.0).sum() / lengths.sum()
        return loss

    def good_token_sum(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = (per_step * mask).sum()
        return loss

    def good_per_sequence_mean(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = ((per_step * mask).sum(dim=1) / lengths).mean()
        return loss


# ----- references: each sequence alone, at its true length -----
def _per_sequence_sums(model, x, lengths, y):
    sums = []
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        sums.append(F.cross_entropy(model.head(out[0]), y[i, :n], reduction="sum"))
    return torch.stack(sums)


def reference_token_mean(model, x, lengths, y):
    return _per_sequence_sums(model, x, lengths, y).sum() / lengths.sum()


def reference_token_sum(model, x, lengths, y):
    return _per_sequence_sums(model, x, lengths, y).sum()


def reference_sequence_mean(model, x, lengths, y):
    return (_per_sequence_sums(model, x, lengths, y) / lengths).mean()


def evaluate(lab):
    """Rows of evidence for PKL007 on ``lab``'s device (see packlint.selfcheck.lab)."""
    model = lab.model(Tagger)
    batches = []
    for k, values in enumerate(([3, 3, 3, 3, 3, 3], [7, 7, 6, 7, 5, 7], [5, 2, 7, 1, 4, 6], [1, 2, 1, 7, 1, 3])):
        lengths = lab.lengths(values)
        y = lab.pad(lab.sequences(lengths, 0, TAGS, offset=60 + k), 0)
        batches.append((lab.tokens(lengths, VOCAB, offset=70 + k), lengths, y))
    x, lengths, y = batches[2]
    padding = [1 - float(b[1].sum()) / b[0].numel() for b in batches]

    rows = [lab.compare_scale(
        "PKL007", f"token mean, batches {min(padding):.0%}-{max(padding):.0%} padding", model, reference_token_mean, "bad_masked_mean",
        ["good_over_mask_sum", "good_over_lengths_sum"], batches, tolerance=1e-2)]
    rows += lab.compare_losses(
        "PKL007", "token mean", model, lab.function(reference_token_mean, x, lengths, y),
        lab.method("bad_masked_mean", x, lengths, y),
        [lab.method(g, x, lengths, y) for g in ("good_over_mask_sum", "good_over_lengths_sum")])
    rows += lab.compare_losses(
        "PKL007", "token sum", model, lab.function(reference_token_sum, x, lengths, y), None,
        [lab.method("good_token_sum", x, lengths, y)])
    rows += lab.compare_losses(
        "PKL007", "per-sequence mean", model, lab.function(reference_sequence_mean, x, lengths, y), None,
        [lab.method("good_per_sequence_mean", x, lengths, y)])
    rows += lab.compare_losses(
        "PKL007", "per-sequence mean vs token mean (a weighting, not a bug)", model,
        lab.function(reference_token_mean, x, lengths, y), None,
        [lab.method("good_per_sequence_mean", x, lengths, y)], info=True)
    return rows
