"""Evidence for PKL009 bidirectional-last-step: a bidirectional output read at ``lengths - 1`` keeps a backward
half that has seen one token.

A bidirectional GRU runs its backward direction from each sequence's last real token to its first, so that
direction's final state is at step 0 of the unpacked output, and at ``lengths - 1`` it has read the last token
only. The reference runs the sequences grouped by true length, with no padding at all, and takes ``h`` of each
direction. The rows compare the backward half on its own (at ``lengths - 1``, against ``h_n[-1]`` and step 0), the
forward half (exact at ``lengths - 1``: why only the backward half is wrong), the logits of a head on both halves,
and a short training run on a task whose answer is the first token, which the backward direction reads last
(trained through one packed call, shown equal to the unpadded reference by the first row).

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN, CLASSES = 12, 8, 24, 4
#: longest sequence of the training task: the bad variant's forward half has to carry the first token this far
TASK_LEN = 24


class BiGRUClassifier(nn.Module):
    """Embedding -> bidirectional GRU -> Linear on a sentence vector made of both directions."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, CLASSES)

    # ----- the backward direction's summary on its own -----
    def bad_backward_half_at_lengths(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        rows = torch.arange(out.size(0), device=x.device)
        return out[rows, lengths - 1, HIDDEN:]  # expect: PKL009

    def good_backward_h_n(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return h_n[-1]

    def good_backward_step_0(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return out[:, 0, HIDDEN:]

    # ----- the forward direction's summary on its own: lengths - 1 is right for it -----
    def good_forward_half_at_lengths(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        rows = torch.arange(out.size(0), device=x.device)
        return out[rows, lengths - 1, :HIDDEN]

    def good_forward_h_n(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return h_n[-2]

    # ----- a head on both directions -----
    def bad_gather_both_halves(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        last = out[torch.arange(out.size(0), device=x.device), lengths - 1]  # expect: PKL009
        return self.head(last)

    def good_cat_h_n(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=1))

    def good_forward_last_backward_first(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        forward = out[torch.arange(out.size(0), device=x.device), lengths - 1, :HIDDEN]
        backward = out[:, 0, HIDDEN:]
        return self.head(torch.cat([forward, backward], dim=1))


# ----- references: sequences grouped by true length, run with no padding at all -----
def _final_states(model, x, lengths):
    """(forward, backward) final states of each sequence run alone at its true length, in batch order."""
    forward, backward, rows = [], [], []
    for n in sorted(set(lengths.tolist())):
        same = (lengths == n).nonzero().flatten()
        _, h = model.rnn(model.embed(x[same, :n]))
        forward.append(h[-2])
        backward.append(h[-1])
        rows.append(same)
    order = torch.cat(rows).argsort()
    return torch.cat(forward)[order], torch.cat(backward)[order]


def reference_backward(model, x, lengths):
    return _final_states(model, x, lengths)[1]


def reference_forward(model, x, lengths):
    return _final_states(model, x, lengths)[0]


def reference_logits(model, x, lengths):
    return model.head(torch.cat(_final_states(model, x, lengths), dim=1))


def reference_packed_h_n(model, x, lengths):
    """The head on both directions' final states from one packed RNN call: the rows above show it equals the
    unpadded reference (<1e-12), and it is cheap enough to train through."""
    packed = pack_padded_sequence(model.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, h_n = model.rnn(packed)
    return model.head(torch.cat([h_n[-2], h_n[-1]], dim=1))


def first_token_task(n, generator):
    """Tokens with lengths 1..TASK_LEN; the label is the first token's id modulo CLASSES (the last token the
    backward direction reads)."""
    lengths = torch.randint(1, TASK_LEN + 1, (n,), generator=generator)
    x = torch.randint(1, VOCAB, (n, TASK_LEN), generator=generator)
    x = x.masked_fill(torch.arange(TASK_LEN)[None, :] >= lengths[:, None], 0)
    return x, lengths, x[:, 0] % CLASSES


def evaluate(lab):
    """Rows of evidence for PKL009 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=29)
    model = lab.model(BiGRUClassifier)
    rows = [
        lab.compare_outputs(
            "PKL009", "packed-data reference", "sequence logits (max abs error)", model,
            lab.function(reference_logits, x, lengths), None, [lab.function(reference_packed_h_n, x, lengths)],
            tolerance=1e-3),
        lab.compare_outputs(
            "PKL009", "backward half", "backward final state (max abs error)", model,
            lab.function(reference_backward, x, lengths), lab.method("bad_backward_half_at_lengths", x, lengths),
            [lab.method("good_backward_h_n", x, lengths), lab.method("good_backward_step_0", x, lengths)],
            tolerance=1e-3),
        lab.compare_outputs(
            "PKL009", "forward half", "forward final state (max abs error)", model,
            lab.function(reference_forward, x, lengths), None,
            [lab.method("good_forward_half_at_lengths", x, lengths), lab.method("good_forward_h_n", x, lengths)],
            tolerance=1e-3),
        lab.compare_outputs(
            "PKL009", "both halves", "sequence logits (max abs error)", model,
            lab.function(reference_logits, x, lengths), lab.method("bad_gather_both_halves", x, lengths),
            [lab.method("good_cat_h_n", x, lengths), lab.method("good_forward_last_backward_first", x, lengths)],
            tolerance=1e-3),
    ]
    task = lab.task(first_token_task, 2000, 1000)
    rows.append(lab.compare_training(
        "PKL009", "first-token task", BiGRUClassifier, task, lab.function(reference_packed_h_n),
        lab.method("bad_gather_both_halves"), [lab.method("good_cat_h_n"),
                                               lab.method("good_forward_last_backward_first")], steps=40))
    return rows
