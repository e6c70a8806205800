"""Evidence for PKL100 lengths-from-padding: lengths measured on rows that are already padded.

A collate step pads the token sequences with ``pad_sequence`` and only then measures each row: every row is as
long as the longest, so every "length" is T. Packing with those lengths packs nothing away: the GRU runs over the
padding, and its final state is exactly that of an unpacked run over the padded batch. The reference runs each
sequence alone at its true length; the good variants measure before padding or count the non-padding tokens.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

VOCAB, EMBED, HIDDEN, CLASSES, PAD = 12, 8, 16, 4, 0


class Classifier(nn.Module):
    """Embedding -> GRU -> Linear on the final state."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=PAD)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def bad_lengths_of_padded_rows(self, seqs):
        tokens = pad_sequence(seqs, batch_first=True, padding_value=PAD)
        lengths = torch.tensor([len(row) for row in tokens])
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True)  # expect: PKL100
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])

    def good_lengths_before_padding(self, seqs):
        lengths = torch.tensor([len(s) for s in seqs])
        tokens = pad_sequence(seqs, batch_first=True, padding_value=PAD)
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])

    def good_count_real_tokens(self, seqs):
        tokens = pad_sequence(seqs, batch_first=True, padding_value=PAD)
        lengths = (tokens != PAD).sum(1).cpu()
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])


# ----- references -----
def reference_alone(model, seqs):
    """Each sequence alone at its true length."""
    rows = []
    for s in seqs:
        _, h = model.rnn(model.embed(s[None, :]))
        rows.append(h[-1, 0])
    return model.head(torch.stack(rows))


def reference_unpacked(model, seqs):
    """No packing at all: the RNN reads every padded step."""
    tokens = pad_sequence(seqs, batch_first=True, padding_value=PAD)
    _, h = model.rnn(model.embed(tokens))
    return model.head(h[-1])


def evaluate(lab):
    """Rows of evidence for PKL100 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    seqs = lab.sequences(lengths, 1, VOCAB, offset=100)
    quantity = "sequence logits (max abs error)"
    model = lab.model(Classifier)
    with torch.no_grad():  # what the bad variant really computes: the RNN over the padded batch, unpacked
        same = float((model.bad_lengths_of_padded_rows(seqs) - reference_unpacked(model, seqs)).abs().max())
    same_text = "<1e-12" if same < 1e-12 else f"{same:.1e}"
    return [
        lab.compare_outputs("PKL100", "lengths measured after padding", quantity, model,
                            lab.function(reference_alone, seqs), lab.method("bad_lengths_of_padded_rows", seqs),
                            [lab.method(g, seqs) for g in ("good_lengths_before_padding", "good_count_real_tokens")],
                            tolerance=1e-3,
                            note=f"the bad variant against running the RNN over the padded batch without packing: "
                                 f"max abs difference {same_text} (the padding is read as real steps)"),
    ]
