"""Evidence for PKL001 unmasked-loss: a loss over the unpacked output counts every padded step.

A GRU tagger and an LSTM regressor, written the way training code is usually written: ``forward`` packs,
runs the RNN and unpacks; the loss methods call ``self(x, lengths)``. The reference runs each sequence alone
at its true length, so no padding exists anywhere, and averages over real tokens. The bad variants are the
shapes PKL001 reports (marked ``# expect:``); the good ones are every idiom the design accepts as clean.
Targets are padded with 0, a real class, as collate functions usually do, except where a variant says otherwise.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN, TAGS = 12, 8, 16, 5
PAD_TAG = -100


def sequence_mask(lengths, max_len):
    """(B, max_len) bool, True at the real steps of each sequence."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps[None, :] < lengths[:, None]


class Tagger(nn.Module):
    """Embedding -> GRU -> Linear, one tag per token."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, TAGS)

    def forward(self, x, lengths):
        emb = self.embed(x)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)

    # ----- what PKL001 reports -----
    def bad_unmasked_ce(self, x, lengths, y):
        logits = self(x, lengths)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))  # expect: PKL001
        return loss

    def bad_zeroed_logits(self, x, lengths, y):
        logits = self(x, lengths)
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        logits = logits * mask.unsqueeze(-1)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))  # expect: PKL001
        return loss

    def bad_per_step_mean(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        loss = per_step.mean()  # expect: PKL001
        return loss

    # ----- what PKL001 accepts -----
    def good_ignore_index(self, x, lengths, y):
        # y is padded with PAD_TAG by the collate function
        logits = self(x, lengths)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=PAD_TAG)
        return loss

    def good_mask_multiply(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = (per_step * mask).sum() / mask.sum()
        return loss

    def good_masked_fill(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        m = sequence_mask(lengths, logits.size(1))
        loss = per_step.masked_fill(~m, 0.0).sum() / m.sum()
        return loss

    def good_where(self, x, lengths, y):
        logits = self(x, lengths)
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = torch.where(mask, per_step, 0.0).sum() / lengths.sum()
        return loss

    def good_boolean_index(self, x, lengths, y):
        logits = self(x, lengths)
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = F.cross_entropy(logits[mask], y[mask])
        return loss

    def good_masked_select(self, x, lengths, y):
        logits = self(x, lengths)
        mask = torch.arange(logits.size(1), device=x.device)[None, :] < lengths[:, None]
        picked = logits.masked_select(mask.unsqueeze(-1)).view(-1, logits.size(-1))
        loss = F.cross_entropy(picked, y.masked_select(mask))
        return loss

    def good_packed_data(self, x, lengths, y):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        targets = pack_padded_sequence(y, lengths.cpu(), batch_first=True, enforce_sorted=False)
        loss = F.cross_entropy(self.head(out.data), targets.data)
        return loss


class Regressor(nn.Module):
    """Embedding -> LSTM -> Linear, one real value per token, trained with MSE."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)
        self.criterion = nn.MSELoss()

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out).squeeze(-1)

    def bad_unmasked_mse(self, x, lengths, y):
        pred = self(x, lengths)
        loss = self.criterion(pred, y)  # expect: PKL001
        return loss

    def good_mask_multiply(self, x, lengths, y):
        pred = self(x, lengths)
        mask = torch.arange(pred.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = (F.mse_loss(pred, y, reduction="none") * mask).sum() / mask.sum()
        return loss

    def good_boolean_index(self, x, lengths, y):
        pred = self(x, lengths)
        mask = torch.arange(pred.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = self.criterion(pred[mask], y[mask])
        return loss

    def good_masked_select(self, x, lengths, y):
        pred = self(x, lengths)
        mask = torch.arange(pred.size(1), device=x.device)[None, :] < lengths[:, None]
        loss = F.mse_loss(pred.masked_select(mask), y.masked_select(mask))
        return loss


class SequenceClassifier(nn.Module):
    """Embedding -> GRU -> Linear on the final state: one label per sequence."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.cls = nn.Linear(HIDDEN, TAGS)

    def good_loss_on_h_n(self, x, lengths, labels):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        loss = F.cross_entropy(self.cls(h_n[-1]), labels)
        return loss

    def good_loss_on_gathered_last_step(self, x, lengths, labels):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        last = out[torch.arange(out.size(0), device=x.device), lengths - 1]
        loss = F.cross_entropy(self.cls(last), labels)
        return loss


class AcousticModel(nn.Module):
    """Features -> LSTM -> Linear over labels (0 is the CTC blank), trained with CTC."""

    def __init__(self, n_features=6, n_labels=6):
        super().__init__()
        self.rnn = nn.LSTM(n_features, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, n_labels)
        self.ctc = nn.CTCLoss(blank=0)

    def good_ctc_with_lengths(self, feats, lengths, targets, target_lengths):
        packed = pack_padded_sequence(feats, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        log_probs = F.log_softmax(self.head(out), dim=-1).transpose(0, 1)
        loss = self.ctc(log_probs, targets, lengths, target_lengths)
        return loss


# ----- references: each sequence alone, at its true length -----
def reference_token_ce(model, x, lengths, y):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        total = total + F.cross_entropy(model.head(out[0]), y[i, :n], reduction="sum")
    return total / lengths.sum()


def reference_token_mse(model, x, lengths, y):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        total = total + F.mse_loss(model.head(out[0]).squeeze(-1), y[i, :n], reduction="sum")
    return total / lengths.sum()


def reference_sequence_ce(model, x, lengths, labels):
    finals = []
    for i, n in enumerate(lengths.tolist()):
        _, h = model.rnn(model.embed(x[i : i + 1, :n]))
        finals.append(h[-1, 0])
    return F.cross_entropy(model.cls(torch.stack(finals)), labels)


def reference_ctc(model, feats, lengths, targets, target_lengths):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(feats[i : i + 1, :n])
        log_probs = F.log_softmax(model.head(out), dim=-1).transpose(0, 1)
        m = int(target_lengths[i])
        one = F.ctc_loss(log_probs, targets[i : i + 1, :m], lengths[i : i + 1], target_lengths[i : i + 1],
                         reduction="sum")
        total = total + one / m
    return total / len(lengths)


def evaluate(lab):
    """Rows of evidence for PKL001 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=1)
    mask = lab.mask(lengths)
    y = lab.pad(lab.sequences(lengths, 0, TAGS, offset=2), 0)
    y_ignore = y.masked_fill(~mask, PAD_TAG)
    rows = []

    tagger = lab.model(Tagger)
    goods = ["good_mask_multiply", "good_masked_fill", "good_where", "good_boolean_index", "good_masked_select",
             "good_packed_data"]
    rows += lab.compare_losses(
        "PKL001", "tagging CE", tagger, lab.function(reference_token_ce, x, lengths, y),
        lab.method("bad_unmasked_ce", x, lengths, y),
        [lab.method("good_ignore_index", x, lengths, y_ignore)] + [lab.method(g, x, lengths, y) for g in goods],
        lengths=lengths, probe="head")
    for bad in ("bad_zeroed_logits", "bad_per_step_mean"):
        rows += lab.compare_losses(
            "PKL001", f"tagging CE, {bad}", tagger, lab.function(reference_token_ce, x, lengths, y),
            lab.method(bad, x, lengths, y), [])

    values = lab.pad(lab.real_values(lengths, offset=3), 0.0)
    rows += lab.compare_losses(
        "PKL001", "regression MSE", lab.model(Regressor), lab.function(reference_token_mse, x, lengths, values),
        lab.method("bad_unmasked_mse", x, lengths, values),
        [lab.method(g, x, lengths, values) for g in ("good_mask_multiply", "good_boolean_index",
                                                     "good_masked_select")],
        lengths=lengths, probe="head")

    labels = torch.tensor([s[-1] for s in lab.sequences(lengths, 0, TAGS, offset=4)], device=lab.device)
    rows += lab.compare_losses(
        "PKL001", "classification on the final state", lab.model(SequenceClassifier),
        lab.function(reference_sequence_ce, x, lengths, labels), None,
        [lab.method(g, x, lengths, labels) for g in ("good_loss_on_h_n", "good_loss_on_gathered_last_step")])

    ctc_lengths = lab.lengths([6, 2, 9, 1, 5, 8])
    feats = lab.features(ctc_lengths, 6, offset=5)
    target_lengths = (ctc_lengths + 1) // 2
    targets = lab.pad(lab.sequences(target_lengths, 1, 6, offset=6), 0)
    rows += lab.compare_losses(
        "PKL001", "CTC with lengths", lab.model(AcousticModel),
        lab.function(reference_ctc, feats, ctc_lengths, targets, target_lengths), None,
        [lab.method("good_ctc_with_lengths", feats, ctc_lengths, targets, target_lengths)])
    return rows
