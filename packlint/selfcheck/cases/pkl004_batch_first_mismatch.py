"""Evidence for PKL004 batch-first-mismatch: packed batch-first, unpacked time-major, then used as batch-first.

``pad_packed_sequence`` defaults to ``batch_first=False``. After packing a (B, T, E) batch with
``batch_first=True``, forgetting it on the unpacking side gives a (T, B, H) output; flattened with
``view(-1, C)`` against batch-major targets it runs without error and pairs each target with some other
sequence's step. The loss here is already masked (``ignore_index`` on targets padded with it) so the only
mistake left is the layout. The reference runs each sequence alone. CTC, which wants (T, B, C), is the
deliberately time-major consumer that must stay clean.

The data's own layout: a batch made batch-major by ``pad_sequence(..., batch_first=True)`` and packed with
``batch_first`` left False (and ``enforce_sorted=False``, so nothing raises) is cut across the batch before the RNN
sees it. With as many sequences as steps (B == T) every shape still fits.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

VOCAB, EMBED, HIDDEN, TAGS = 12, 8, 16, 5
PAD_TAG = -100


class Tagger(nn.Module):
    """Embedding -> GRU -> Linear, one tag per token; targets padded with PAD_TAG."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, TAGS)

    def bad_unpacked_time_major(self, x, lengths, y):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0])  # expect: PKL004
        logits = self.head(out)
        loss = F.cross_entropy(logits.view(-1, TAGS), y.view(-1), ignore_index=PAD_TAG)
        return loss

    def good_unpacked_batch_first(self, x, lengths, y):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        logits = self.head(out)
        loss = F.cross_entropy(logits.view(-1, TAGS), y.view(-1), ignore_index=PAD_TAG)
        return loss

    def good_transpose_after_unpacking(self, x, lengths, y):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0])
        out = out.transpose(0, 1)
        logits = self.head(out)
        loss = F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=PAD_TAG)
        return loss

    def bad_batch_major_data_packed_time_major(self, seqs, lengths, y):
        tokens = pad_sequence(seqs, batch_first=True)
        packed = pack_padded_sequence(self.embed(tokens), lengths.cpu(), enforce_sorted=False)  # expect: PKL004
        out, _ = pad_packed_sequence(self.rnn(packed)[0])  # the same layout back: the recurrence ran across the batch
        logits = self.head(out)
        return F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=PAD_TAG)

    def good_batch_major_data_packed_batch_first(self, seqs, lengths, y):
        tokens = pad_sequence(seqs, batch_first=True)
        packed = pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        logits = self.head(out)
        return F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=PAD_TAG)

    def good_permute_after_unpacking(self, x, lengths, y):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0])
        logits = self.head(out.permute(1, 0, 2))
        loss = F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1), ignore_index=PAD_TAG)
        return loss


class AcousticModel(nn.Module):
    """Features -> LSTM -> Linear over labels (0 is the CTC blank); CTC reads (T, B, C) on purpose."""

    def __init__(self, n_features=6, n_labels=6):
        super().__init__()
        self.rnn = nn.LSTM(n_features, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, n_labels)

    def good_ctc_time_major(self, feats, lengths, targets, target_lengths):
        packed = pack_padded_sequence(feats, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0])
        log_probs = F.log_softmax(self.head(out), dim=-1)
        loss = F.ctc_loss(log_probs, targets, lengths, target_lengths)
        return loss


# ----- references: each sequence alone, at its true length -----
def reference_token_ce(model, x, lengths, y):
    total = 0.0
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        total = total + F.cross_entropy(model.head(out[0]), y[i, :n], reduction="sum")
    return total / lengths.sum()


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
    """Rows of evidence for PKL004 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=31)
    y = lab.pad(lab.sequences(lengths, 0, TAGS, offset=32), PAD_TAG)
    goods = ["good_unpacked_batch_first", "good_transpose_after_unpacking", "good_permute_after_unpacking"]
    rows = lab.compare_losses(
        "PKL004", "tagging, masked CE", lab.model(Tagger), lab.function(reference_token_ce, x, lengths, y),
        lab.method("bad_unpacked_time_major", x, lengths, y), [lab.method(g, x, lengths, y) for g in goods])

    square = lab.lengths([6, 2, 5, 1, 4, 3])  # six sequences, six steps: every shape fits either way
    seqs = lab.sequences(square, 1, VOCAB, offset=35)
    sq_x = lab.pad(seqs, 0)
    sq_y = lab.pad(lab.sequences(square, 0, TAGS, offset=36), PAD_TAG)
    rows += lab.compare_losses(
        "PKL004", "batch-major data packed time-major", lab.model(Tagger),
        lab.function(reference_token_ce, sq_x, square, sq_y),
        lab.method("bad_batch_major_data_packed_time_major", seqs, square, sq_y),
        [lab.method("good_batch_major_data_packed_batch_first", seqs, square, sq_y)])

    ctc_lengths = lab.lengths([6, 2, 9, 1, 5, 8])
    feats = lab.features(ctc_lengths, 6, offset=33)
    target_lengths = (ctc_lengths + 1) // 2
    targets = lab.pad(lab.sequences(target_lengths, 1, 6, offset=34), 0)
    rows += lab.compare_losses(
        "PKL004", "CTC, time-major on purpose", lab.model(AcousticModel),
        lab.function(reference_ctc, feats, ctc_lengths, targets, target_lengths), None,
        [lab.method("good_ctc_time_major", feats, ctc_lengths, targets, target_lengths)])
    return rows
