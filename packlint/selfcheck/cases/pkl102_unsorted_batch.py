"""Evidence for PKL102 unsorted-batch: a batch sorted by length for packing and never put back.

Before ``enforce_sorted=False`` existed, models sorted their batch by length themselves (``lengths.sort(
descending=True)``, then ``x[perm]``) and had to undo it on the outputs. A GRU classifier here returns one logit
row per sequence; the reference runs each sequence alone at its true length, in the batch's own order. The bad
variants return the rows in sorted order, or "unsort" them with the permutation itself; the good ones index with
its inverse, scatter the rows back (``y[perm] = out``), or let packing sort (``enforce_sorted=False``). Nothing
raises in any of them: only the pairing of rows with sequences changes.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

VOCAB, EMBED, HIDDEN, CLASSES = 12, 8, 16, 4


class Classifier(nn.Module):
    """Embedding -> GRU -> Linear on the final state."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def encode_sorted(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True)
        return self.head(self.rnn(packed)[1][-1])

    def bad_never_unsorted(self, x, lengths):
        lengths, perm = lengths.sort(descending=True)
        x = x[perm]
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])  # expect: PKL102

    def bad_unsorted_with_perm_itself(self, x, lengths):
        lengths, perm = lengths.sort(descending=True)
        packed = pack_padded_sequence(self.embed(x[perm]), lengths.cpu(), batch_first=True)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])[perm]  # expect: PKL102

    def good_inverse_permutation(self, x, lengths):
        lengths, perm = lengths.sort(descending=True)
        packed = pack_padded_sequence(self.embed(x[perm]), lengths.cpu(), batch_first=True)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])[perm.argsort()]

    def good_sort_of_perm(self, x, lengths):
        sorted_lengths, perm = torch.sort(lengths, descending=True)
        _, unsort = perm.sort()
        packed = pack_padded_sequence(self.embed(x.index_select(0, perm)), sorted_lengths.cpu(), batch_first=True)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1]).index_select(0, unsort)

    def good_scatter_back(self, x, lengths):
        lengths, perm = lengths.sort(descending=True)
        packed = pack_padded_sequence(self.embed(x[perm]), lengths.cpu(), batch_first=True)
        _, h_n = self.rnn(packed)
        logits = self.head(h_n[-1])
        out = torch.empty_like(logits)
        out[perm] = logits
        return out

    def good_packing_sorts(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])


# ----- reference: each sequence alone, at its true length, in the batch's own order -----
def reference_logits(model, x, lengths):
    rows = []
    for i, n in enumerate(lengths.tolist()):
        _, h = model.rnn(model.embed(x[i : i + 1, :n]))
        rows.append(h[-1, 0])
    return model.head(torch.stack(rows))


def evaluate(lab):
    """Rows of evidence for PKL102 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([3, 6, 2, 5, 4])  # not sorted: the permutation moves every row
    x = lab.tokens(lengths, VOCAB, offset=102)
    quantity = "sequence logits (max abs error)"
    goods = ["good_inverse_permutation", "good_sort_of_perm", "good_scatter_back", "good_packing_sorts"]
    rows = []
    for case, bad in [
        ("sorted for packing, never put back", "bad_never_unsorted"),
        ("put back with the permutation itself", "bad_unsorted_with_perm_itself"),
    ]:
        rows.append(lab.compare_outputs(
            "PKL102", case, quantity, lab.model(Classifier), lab.function(reference_logits, x, lengths),
            lab.method(bad, x, lengths), [lab.method(g, x, lengths) for g in goods], tolerance=1e-3,
            note="nothing raises: every row is another sequence's logits"))
    return rows
