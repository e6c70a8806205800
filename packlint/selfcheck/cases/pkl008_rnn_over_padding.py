"""Evidence for PKL008 rnn-over-padding: an RNN run over a padded batch without packing keeps stepping through
the padding of every shorter sequence, so its ``h_n`` is not the sequence's own final state.

The reference runs each sequence alone, at its true length, with no padding at all, and applies the head to its
``h_n``. The padded-batch variants run the same weights over ``pad_sequence`` output: unpacked (bad), packed with
``enforce_sorted=False`` (good), and, for a unidirectional RNN over right padding, the per-step output read at
``lengths - 1`` (good: real steps never see the padding after them). Left padding puts every real step after the
padding, so even the last column (each sequence's real end) has read it. A bidirectional RNN's backward
direction starts in the padding. A second RNN run over an unpacked output reads its zero padding the same way.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

VOCAB, EMBED, HIDDEN, CLASSES = 12, 8, 16, 3


class GRUClassifier(nn.Module):
    """Embedding (padding_idx=0) -> GRU -> Linear on the final state."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=0)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def summary(self, h_n):
        return h_n[-1]

    def bad_unpacked_h_n(self, seqs):
        tokens = pad_sequence(seqs, batch_first=True)
        _, h_n = self.rnn(self.embed(tokens))  # expect: PKL008
        return self.head(self.summary(h_n))

    def bad_left_padded_h_n(self, seqs):
        tokens = pad_sequence(seqs, batch_first=True, padding_side="left")
        _, h_n = self.rnn(self.embed(tokens))  # expect: PKL008
        return self.head(self.summary(h_n))

    def good_packed(self, seqs):
        lengths = torch.tensor([len(s) for s in seqs])
        tokens = pad_sequence(seqs, batch_first=True)
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.head(self.summary(h_n))

    def good_read_at_lengths(self, seqs):
        lengths = torch.tensor([len(s) for s in seqs], device=seqs[0].device)
        tokens = pad_sequence(seqs, batch_first=True)
        out, _ = self.rnn(self.embed(tokens))
        last = out[torch.arange(len(seqs), device=out.device), lengths - 1]
        return self.head(last)


class BiGRUClassifier(GRUClassifier):
    """The same with a bidirectional GRU: the head reads both directions' final states."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, CLASSES)

    def summary(self, h_n):
        return torch.cat([h_n[-2], h_n[-1]], dim=1)

    def bad_bidirectional_h_n(self, seqs):
        tokens = pad_sequence(seqs, batch_first=True)
        _, h_n = self.rnn(self.embed(tokens))  # expect: PKL008
        return self.head(self.summary(h_n))


class StackedEncoder(nn.Module):
    """A packed GRU, then a second GRU over its unpacked output, then a Linear on the second one's h_n."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=0)
        self.lower = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.upper = nn.GRU(HIDDEN, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def lower_states(self, seqs):
        lengths = torch.tensor([len(s) for s in seqs])
        packed = pack_padded_sequence(self.embed(pad_sequence(seqs, batch_first=True)), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lower(packed)[0], batch_first=True)
        return out, lengths

    def bad_second_rnn_unpacked(self, seqs):
        out, _ = self.lower_states(seqs)
        _, h_n = self.upper(out)  # expect: PKL008
        return self.head(h_n[-1])

    def good_second_rnn_packed(self, seqs):
        out, lengths = self.lower_states(seqs)
        _, h_n = self.upper(pack_padded_sequence(out, lengths, batch_first=True, enforce_sorted=False))
        return self.head(h_n[-1])


# ----- references: each sequence run alone, no padding at all -----
def reference_alone(model, seqs):
    """The head on each sequence's own final state."""
    finals = []
    for s in seqs:
        _, h_n = model.rnn(model.embed(s[None]))
        finals.append(model.summary(h_n))
    return model.head(torch.cat(finals))


def reference_stacked_alone(model, seqs):
    finals = []
    for s in seqs:
        out, _ = model.lower(model.embed(s[None]))
        _, h_n = model.upper(out)
        finals.append(h_n[-1])
    return model.head(torch.cat(finals))


def evaluate(lab):
    """Rows of evidence for PKL008 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([6, 2, 5, 1, 4])
    seqs = lab.sequences(lengths, 1, VOCAB, offset=8)
    quantity = "sequence logits (max abs error)"
    rows = [lab.compare_outputs(
        "PKL008", "unidirectional h_n, right padding", quantity, lab.model(GRUClassifier),
        lab.function(reference_alone, seqs), lab.method("bad_unpacked_h_n", seqs),
        [lab.method("good_packed", seqs), lab.method("good_read_at_lengths", seqs)], tolerance=1e-3)]
    rows.append(lab.compare_outputs(
        "PKL008", "unidirectional h_n, left padding", quantity, lab.model(GRUClassifier),
        lab.function(reference_alone, seqs), lab.method("bad_left_padded_h_n", seqs),
        [lab.method("good_packed", seqs)], tolerance=1e-3))
    rows.append(lab.compare_outputs(
        "PKL008", "bidirectional h_n", quantity, lab.model(BiGRUClassifier),
        lab.function(reference_alone, seqs), lab.method("bad_bidirectional_h_n", seqs),
        [lab.method("good_packed", seqs)], tolerance=1e-3))
    rows.append(lab.compare_outputs(
        "PKL008", "second RNN over an unpacked output", quantity, lab.model(StackedEncoder),
        lab.function(reference_stacked_alone, seqs), lab.method("bad_second_rnn_unpacked", seqs),
        [lab.method("good_second_rnn_packed", seqs)], tolerance=1e-3))
    return rows
