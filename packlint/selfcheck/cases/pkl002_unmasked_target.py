"""Evidence for PKL002 unmasked-target: the loss is masked through the target, but the masking does not match.

Three ways real code masks and gets it wrong, each silent (no shape error): ``ignore_index=-100`` while the
collate pads targets with 0, a real tag; zeroing the target but not the prediction; and, in a language model
whose inputs are shifted by one, a mask built from the unshifted lengths. Targets arrive as a list of 1-D
tensors (what a dataset yields) and each variant pads them itself, so the padding value is visible.
The reference runs each sequence alone at its true length and averages over real tokens.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

VOCAB, EMBED, HIDDEN, TAGS = 12, 8, 16, 5
PAD_TAG = -1


class Tagger(nn.Module):
    """Embedding -> GRU -> Linear, one tag per token (or, as a language model, the next token)."""

    def __init__(self, n_out=TAGS):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, n_out)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)

    def bad_ignore_index_mismatch(self, x, lengths, tags):
        logits = self(x, lengths)
        y = pad_sequence(tags, batch_first=True)
        loss = F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=-100)  # expect: PKL002
        return loss

    def good_ignore_index_matches(self, x, lengths, tags):
        logits = self(x, lengths)
        y = pad_sequence(tags, batch_first=True, padding_value=-100)
        loss = F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=-100)
        return loss

    def good_pad_constant(self, x, lengths, tags):
        logits = self(x, lengths)
        y = pad_sequence(tags, batch_first=True, padding_value=PAD_TAG)
        loss = F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=PAD_TAG)
        return loss

    def good_target_pad_mask(self, x, lengths, tags):
        logits = self(x, lengths)
        y = pad_sequence(tags, batch_first=True, padding_value=PAD_TAG)
        mask = y != PAD_TAG
        loss = F.cross_entropy(logits[mask], y[mask])
        return loss

    def bad_lm_mask_from_unshifted_lengths(self, tokens, lengths):
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        logits = self(inputs, lengths - 1)
        mask = torch.arange(logits.size(1), device=tokens.device)[None, :] < lengths[:, None]
        loss = F.cross_entropy(logits[mask], targets[mask])  # expect: PKL002
        return loss

    def good_lm_mask_from_shifted_lengths(self, tokens, lengths):
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        in_lengths = lengths - 1
        logits = self(inputs, in_lengths)
        mask = torch.arange(logits.size(1), device=tokens.device)[None, :] < in_lengths[:, None]
        loss = F.cross_entropy(logits[mask], targets[mask])
        return loss


class Regressor(nn.Module):
    """Embedding -> LSTM -> Linear, one real value per token."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out).squeeze(-1)

    def bad_target_only_masked(self, x, lengths, values):
        pred = self(x, lengths)
        y = pad_sequence(values, batch_first=True)
        mask = torch.arange(y.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = F.mse_loss(pred, y * mask)  # expect: PKL002
        return loss

    def good_both_masked(self, x, lengths, values):
        pred = self(x, lengths)
        y = pad_sequence(values, batch_first=True)
        mask = torch.arange(y.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = F.mse_loss(pred[mask], y[mask])
        return loss

    def good_per_step_masked(self, x, lengths, values):
        pred = self(x, lengths)
        y = pad_sequence(values, batch_first=True)
        mask = torch.arange(y.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = (F.mse_loss(pred, y, reduction="none") * mask).sum() / mask.sum()
        return loss


# ----- references: each sequence alone, at its true length -----
def reference_token_ce(model, x, lengths, tags):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        total = total + F.cross_entropy(model.head(out[0]), tags[i], reduction="sum")
    return total / lengths.sum()


def reference_token_mse(model, x, lengths, values):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        total = total + F.mse_loss(model.head(out[0]).squeeze(-1), values[i], reduction="sum")
    return total / lengths.sum()


def reference_next_token(model, tokens, lengths):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(tokens[i : i + 1, : n - 1]))
        total = total + F.cross_entropy(model.head(out[0]), tokens[i, 1:n], reduction="sum")
    return total / (lengths - 1).sum()


def evaluate(lab):
    """Rows of evidence for PKL002 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=11)
    tags = lab.sequences(lengths, 0, TAGS, offset=12)
    rows = lab.compare_losses(
        "PKL002", "ignore_index vs target padding", lab.model(Tagger),
        lab.function(reference_token_ce, x, lengths, tags),
        lab.method("bad_ignore_index_mismatch", x, lengths, tags),
        [lab.method(g, x, lengths, tags)
         for g in ("good_ignore_index_matches", "good_pad_constant", "good_target_pad_mask")],
        lengths=lengths, probe="head")

    values = lab.real_values(lengths, offset=13)
    rows += lab.compare_losses(
        "PKL002", "target masked, prediction not (MSE)", lab.model(Regressor),
        lab.function(reference_token_mse, x, lengths, values),
        lab.method("bad_target_only_masked", x, lengths, values),
        [lab.method(g, x, lengths, values) for g in ("good_both_masked", "good_per_step_masked")],
        lengths=lengths, probe="head")

    lm_lengths = lab.lengths([6, 2, 8, 3, 5, 7])
    tokens = lab.tokens(lm_lengths, VOCAB, offset=14)
    rows += lab.compare_losses(
        "PKL002", "language model, mask from other lengths", lab.model(Tagger, VOCAB),
        lab.function(reference_next_token, tokens, lm_lengths),
        lab.method("bad_lm_mask_from_unshifted_lengths", tokens, lm_lengths),
        [lab.method("good_lm_mask_from_shifted_lengths", tokens, lm_lengths)])
    return rows
