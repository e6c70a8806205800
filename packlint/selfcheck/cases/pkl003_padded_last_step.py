"""Evidence for PKL003 padded-last-step: ``out[:, -1]`` of an unpacked batch is padding for shorter sequences.

A GRU classifier reads "the last step" of the unpacked output. For every sequence shorter than the batch's
longest, that step is padding (zeros), so the head sees the same constant for all of them. The reference runs
the sequences grouped by true length, with no padding at all, and takes each one's final state. Besides the
logits' error, a short training run on a task that needs the real last token shows what the model learns.
A bidirectional output gathered at ``lengths - 1`` is PKL009's, with its own case.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN, CLASSES, MAX_LEN = 12, 8, 24, 4, 10


class LastStepClassifier(nn.Module):
    """Embedding -> GRU -> Linear on the sequence's final state."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def bad_last_padded_step(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        last = out[:, -1]  # expect: PKL003
        return self.head(last)

    def good_h_n(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])

    def good_index_at_lengths(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        last = out[torch.arange(out.size(0), device=x.device), lengths - 1]
        return self.head(last)

    def good_gather_at_lengths(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))
        last = out.gather(1, index).squeeze(1)
        return self.head(last)


# ----- references: sequences grouped by true length, run with no padding at all -----
def reference_final_state(model, x, lengths):
    """Head applied to each sequence's true final state."""
    finals, rows = [], []
    for n in sorted(set(lengths.tolist())):
        same = (lengths == n).nonzero().flatten()
        out, _ = model.rnn(model.embed(x[same, :n]))
        # nothing here was padded, so the last step of `out` is every sequence's last real step
        finals.append(out[:, -1])
        rows.append(same)
    return model.head(torch.cat(finals)[torch.cat(rows).argsort()])


def reference_last_step_packed(model, x, lengths):
    """The head on each sequence's last real step read from packed data (real steps only): one RNN call, cheap
    enough to train through."""
    packed = pack_padded_sequence(model.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = model.rnn(packed)
    starts = (torch.cumsum(out.batch_sizes, 0) - out.batch_sizes).to(x.device)
    in_packed_order = lengths[out.sorted_indices]
    rows = starts[in_packed_order - 1] + torch.arange(len(lengths), device=x.device)
    return model.head(out.data[rows][out.unsorted_indices])


def last_token_task(n, generator):
    """Tokens with lengths 1..MAX_LEN; the label is the last real token's id modulo CLASSES."""
    lengths = torch.randint(1, MAX_LEN + 1, (n,), generator=generator)
    x = torch.randint(1, VOCAB, (n, MAX_LEN), generator=generator)
    x = x.masked_fill(torch.arange(MAX_LEN)[None, :] >= lengths[:, None], 0)
    y = x[torch.arange(n), lengths - 1] % CLASSES
    return x, lengths, y


def evaluate(lab):
    """Rows of evidence for PKL003 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=21)
    goods = ["good_h_n", "good_index_at_lengths", "good_gather_at_lengths"]
    rows = [lab.compare_outputs(
        "PKL003", "packed-data reference", "sequence logits (max abs error)", lab.model(LastStepClassifier),
        lab.function(reference_final_state, x, lengths), None,
        [lab.function(reference_last_step_packed, x, lengths)], tolerance=1e-3)]
    rows.append(lab.compare_outputs(
        "PKL003", "unidirectional final state", "sequence logits (max abs error)", lab.model(LastStepClassifier),
        lab.function(reference_final_state, x, lengths), lab.method("bad_last_padded_step", x, lengths),
        [lab.method(g, x, lengths) for g in goods], tolerance=1e-3))

    task = lab.task(last_token_task, 2000, 1000)
    rows.append(lab.compare_training(
        "PKL003", "last-token task", LastStepClassifier, task, lab.function(reference_last_step_packed),
        lab.method("bad_last_padded_step"), [lab.method(g) for g in goods], steps=60))
    return rows
