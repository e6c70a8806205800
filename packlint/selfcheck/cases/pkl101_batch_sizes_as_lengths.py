"""Evidence for PKL101 batch-sizes-as-lengths: a PackedSequence's ``batch_sizes`` used as per-sequence lengths.

``batch_sizes[t]`` is the number of sequences longer than ``t``: T values indexed by time, not B values indexed by
sequence. Whenever T != B, a mask, a division or a gather built from it fails on shapes; when T == B (here five
sequences, the longest five steps long) everything runs and gives other numbers. A GRU encoder mean-pools (with a
length mask, or by summing and dividing) or reads each sequence's last step; the reference runs each sequence
alone at its true length. The good variants take the lengths from ``pad_packed_sequence`` or keep the ones they
packed with.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN, CLASSES = 12, 8, 16, 4


class Encoder(nn.Module):
    """Embedding -> GRU -> Linear on a pooled or final state."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def run(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        return self.rnn(packed)[0]

    def bad_mask_from_batch_sizes(self, x, lengths):
        packed_out = self.run(x, lengths)
        out, _ = pad_packed_sequence(packed_out, batch_first=True)
        seq_lens = packed_out.batch_sizes.to(x.device)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < seq_lens[:, None]  # expect: PKL101
        pooled = (out * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled)

    def bad_divide_by_batch_sizes(self, x, lengths):
        packed_out = self.run(x, lengths)
        out, _ = pad_packed_sequence(packed_out, batch_first=True)
        seq_lens = packed_out.batch_sizes.to(x.device)
        pooled = out.sum(1) / seq_lens.unsqueeze(1)  # expect: PKL101
        return self.head(pooled)

    def bad_last_at_batch_sizes(self, x, lengths):
        packed_out = self.run(x, lengths)
        out, _ = pad_packed_sequence(packed_out, batch_first=True)
        seq_lens = packed_out[1].to(x.device)
        last = out[torch.arange(out.size(0), device=x.device), seq_lens - 1]  # expect: PKL101
        return self.head(last)

    def good_mask_from_unpacked_lengths(self, x, lengths):
        out, out_lens = pad_packed_sequence(self.run(x, lengths), batch_first=True)
        out_lens = out_lens.to(x.device)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < out_lens[:, None]
        pooled = (out * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled)

    def good_divide_by_lengths(self, x, lengths):
        out, _ = pad_packed_sequence(self.run(x, lengths), batch_first=True)
        pooled = out.sum(1) / lengths.unsqueeze(1)
        return self.head(pooled)

    def good_last_at_lengths(self, x, lengths):
        out, _ = pad_packed_sequence(self.run(x, lengths), batch_first=True)
        last = out[torch.arange(out.size(0), device=x.device), lengths - 1]
        return self.head(last)


# ----- references: each sequence alone, at its true length -----
def reference_mean(model, x, lengths):
    rows = []
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        rows.append(out[0].mean(0))
    return model.head(torch.stack(rows))


def reference_last(model, x, lengths):
    rows = []
    for i, n in enumerate(lengths.tolist()):
        _, h = model.rnn(model.embed(x[i : i + 1, :n]))
        rows.append(h[-1, 0])
    return model.head(torch.stack(rows))


def evaluate(lab):
    """Rows of evidence for PKL101 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 5, 1, 4])  # B = T = 5: batch_sizes [5, 4, 3, 3, 2] has the lengths' shape
    x = lab.tokens(lengths, VOCAB, offset=101)
    quantity = "sequence logits (max abs error)"
    note = "B == T, so nothing raises; with B != T the same code fails on shapes"
    rows = []
    for case, reference, bad, good in [
        ("length mask, mean pooling", reference_mean, "bad_mask_from_batch_sizes", "good_mask_from_unpacked_lengths"),
        ("sum divided by lengths", reference_mean, "bad_divide_by_batch_sizes", "good_divide_by_lengths"),
        ("last step at lengths - 1", reference_last, "bad_last_at_batch_sizes", "good_last_at_lengths"),
    ]:
        rows.append(lab.compare_outputs(
            "PKL101", case, quantity, lab.model(Encoder), lab.function(reference, x, lengths),
            lab.method(bad, x, lengths), [lab.method(good, x, lengths)], tolerance=1e-3, note=note))
    return rows
