"""Evidence for PKL006 unmasked-attention: softmax over scores of an unpacked output, padding not masked.

Additive attention over GRU states, the most frequent padding bug in real repositories. The padded steps'
states are zeros, so their scores are the scoring layer's bias: softmax gives them weight, and the context
vector, a weighted sum in which they count as zero vectors, shrinks by exactly that mass. The reference runs
each sequence alone and attends over its real steps only. The good variants are the masks real projects use:
``masked_fill`` with -inf or -1e9, an additive (mask - 1) * 1e9 or log-mask, renormalising after multiplying
by the mask, and a project's own masked-softmax helper.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN = 12, 8, 16


def masked_softmax(scores, mask):
    """Softmax over the last axis where ``mask`` is True; masked-out entries get exactly zero weight."""
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)


class AttentionEncoder(nn.Module):
    """Embedding -> GRU -> additive attention pooling; returns (context, weights)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.proj = nn.Linear(HIDDEN, HIDDEN)
        self.score = nn.Linear(HIDDEN, 1)

    def bad_unmasked_softmax(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        weights = torch.softmax(scores, dim=1)  # expect: PKL006
        context = torch.bmm(weights.unsqueeze(1), out).squeeze(1)
        return context, weights

    def good_masked_fill_neg_inf(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        context = torch.bmm(weights.unsqueeze(1), out).squeeze(1)
        return context, weights

    def good_masked_fill_large_negative(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        weights = torch.softmax(scores.masked_fill(mask == 0, -1e9), dim=1)
        context = (weights.unsqueeze(-1) * out).sum(dim=1)
        return context, weights

    def good_additive_mask(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        scores = scores + (mask.float() - 1.0) * 1e9
        weights = torch.softmax(scores, dim=1)
        context = torch.bmm(weights.unsqueeze(1), out).squeeze(1)
        return context, weights

    def good_log_mask(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        weights = torch.softmax(scores + torch.log(mask.float()), dim=1)
        context = torch.bmm(weights.unsqueeze(1), out).squeeze(1)
        return context, weights

    def good_renormalised(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        weights = torch.softmax(scores, dim=1) * mask
        weights = weights / weights.sum(dim=1, keepdim=True)
        context = torch.bmm(weights.unsqueeze(1), out).squeeze(1)
        return context, weights

    def good_masked_softmax_helper(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        weights = masked_softmax(scores, mask)
        context = (weights.unsqueeze(-1) * out).sum(dim=1)
        return context, weights


def reference_attention(model, x, lengths):
    """Each sequence alone: attention over its real steps; weights returned zero-padded to the batch's length."""
    contexts = []
    weights = torch.zeros(len(lengths), int(lengths.max()), device=x.device)
    for i, n in enumerate(lengths.tolist()):
        out, _ = model.rnn(model.embed(x[i : i + 1, :n]))
        w = torch.softmax(model.score(torch.tanh(model.proj(out))).squeeze(-1), dim=1)
        contexts.append(torch.bmm(w.unsqueeze(1), out)[0, 0])
        weights[i, :n] = w[0]
    return torch.stack(contexts), weights


def evaluate(lab):
    """Rows of evidence for PKL006 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=51)
    pad = ~lab.mask(lengths)
    model = lab.model(AttentionEncoder)
    reference = lab.function(reference_attention, x, lengths)
    bad = lab.method("bad_unmasked_softmax", x, lengths)
    goods = [lab.method(g, x, lengths) for g in (
        "good_masked_fill_neg_inf", "good_masked_fill_large_negative", "good_additive_mask", "good_log_mask",
        "good_renormalised", "good_masked_softmax_helper")]

    def mass_on_padding(out):
        return float(out[1][pad].sum() / len(lengths))

    return [
        lab.compare_outputs("PKL006", "additive attention", "attention weight on padding (mean per sequence)",
                            model, reference, bad, goods, tolerance=1e-3,
                            deviation=lambda out, ref: abs(mass_on_padding(out) - mass_on_padding(ref)),
                            value=mass_on_padding),
        lab.compare_outputs("PKL006", "additive attention", "attention weights (max abs error)", model, reference,
                            bad, goods, tolerance=1e-3,
                            deviation=lambda out, ref: float((out[1] - ref[1]).abs().max())),
        lab.compare_outputs("PKL006", "additive attention", "context vector (max abs error)", model, reference,
                            bad, goods, tolerance=1e-3,
                            deviation=lambda out, ref: float((out[0] - ref[0]).abs().max())),
    ]
