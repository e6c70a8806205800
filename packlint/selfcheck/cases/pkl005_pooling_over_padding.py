"""Evidence for PKL005 pooling-over-padding: mean or max over the time axis of an unpacked output.

``out.mean(1)`` divides by the batch's longest length, so each sequence's features shrink by len / T, a factor
that changes with the batch's other sequences; ``out.max(1)`` lets the padding zeros win for every unit whose
real values are all negative; ``sum / lengths`` after a layer with a bias averages the bias of the padded
steps in. The reference pools over real steps only, running the sequences grouped by true length with no
padding at all. Short training runs on tasks that need every real token (the share of high tokens, with
long-tailed lengths; the smallest token) show what the bad pooling costs a model that learns through it.

packlint lints this file in its own tests: the markers and the clean functions must agree with the rule.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, HIDDEN, CLASSES = 12, 8, 24, 3


class PoolingClassifier(nn.Module):
    """Embedding -> GRU -> pooling over time -> Linear; ``proj`` is a per-step layer some variants pool after."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.proj = nn.Linear(HIDDEN, HIDDEN)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def bad_mean_over_time(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        pooled = out.mean(dim=1)  # expect: PKL005
        return self.head(pooled)

    def good_sum_over_lengths(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        pooled = out.sum(dim=1) / lengths[:, None]
        return self.head(pooled)

    def good_masked_mean(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        mask = (torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        pooled = (out * mask).sum(dim=1) / mask.sum(dim=1)
        return self.head(pooled)

    def bad_max_over_time(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        pooled, _ = torch.max(out, dim=1)  # expect: PKL005
        return self.head(pooled)

    def good_masked_max(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        mask = torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]
        pooled = out.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
        return self.head(pooled)

    def good_max_with_neg_inf_padding(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, padding_value=float("-inf"))
        pooled = out.max(dim=1).values
        return self.head(pooled)

    def good_max_after_relu(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        pooled = torch.relu(out).max(dim=1).values
        return self.head(pooled)

    def bad_sum_over_lengths_after_linear(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        steps = self.proj(out)
        pooled = steps.sum(dim=1) / lengths[:, None]  # expect: PKL005
        return self.head(pooled)

    def good_masked_mean_after_linear(self, x, lengths):
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        mask = (torch.arange(out.size(1), device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        pooled = (self.proj(out) * mask).sum(dim=1) / lengths[:, None]
        return self.head(pooled)


# ----- references: sequences grouped by true length, pooled over real steps only -----
def _pooled_by_length(model, x, lengths, pool):
    pooled, rows = [], []
    for n in sorted(set(lengths.tolist())):
        same = (lengths == n).nonzero().flatten()
        out, _ = model.rnn(model.embed(x[same, :n]))
        pooled.append(pool(model, out))
        rows.append(same)
    return model.head(torch.cat(pooled)[torch.cat(rows).argsort()])


def reference_mean(model, x, lengths):
    return _pooled_by_length(model, x, lengths, lambda m, out: out.mean(dim=1))


def reference_max(model, x, lengths):
    return _pooled_by_length(model, x, lengths, lambda m, out: out.max(dim=1).values)


def reference_relu_max(model, x, lengths):
    return _pooled_by_length(model, x, lengths, lambda m, out: torch.relu(out).max(dim=1).values)


def reference_mean_after_linear(model, x, lengths):
    return _pooled_by_length(model, x, lengths, lambda m, out: m.proj(out).mean(dim=1))


# ----- the same pooling over packed data, which holds real steps only: one RNN call, cheap enough to train on -----
def _sequence_of_each_row(packed):
    """For each row of ``packed.data``, the batch index of the sequence it belongs to."""
    order = packed.sorted_indices
    return torch.cat([order[:n] for n in packed.batch_sizes.tolist()])


def reference_mean_packed(model, x, lengths):
    packed = pack_padded_sequence(model.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = model.rnn(packed)
    rows = _sequence_of_each_row(out)
    total = torch.zeros(len(lengths), out.data.size(1), device=x.device).index_add(0, rows, out.data)
    return model.head(total / lengths[:, None])


def reference_max_packed(model, x, lengths):
    packed = pack_padded_sequence(model.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = model.rnn(packed)
    rows = _sequence_of_each_row(out)[:, None].expand(-1, out.data.size(1))
    start = torch.full((len(lengths), out.data.size(1)), float("-inf"), device=x.device)
    return model.head(start.scatter_reduce(0, rows, out.data, reduce="amax"))


# ----- tasks that need every real token -----
def share_of_high_tokens_task(n, generator, max_len=30):
    """Long-tailed lengths (geometric, mean about 5, up to 30); label: share of tokens > 6 in thirds."""
    u = torch.rand(n, generator=generator)
    lengths = torch.clamp((torch.log1p(-u) / torch.log(torch.tensor(0.8))).long() + 1, max=max_len)
    x, mask = _tokens(n, lengths, max_len, generator)
    share = ((x > 6) & mask).sum(dim=1) / lengths
    return x, lengths, (share > 0.34).long() + (share > 0.67).long()


def smallest_token_task(n, generator, max_len=12):
    """Lengths uniform in 1..12; label: the smallest real token, in three bands."""
    lengths = torch.randint(1, max_len + 1, (n,), generator=generator)
    x, mask = _tokens(n, lengths, max_len, generator)
    smallest = torch.where(mask, x, VOCAB).min(dim=1).values
    return x, lengths, (smallest >= 3).long() + (smallest >= 6).long()


def _tokens(n, lengths, max_len, generator):
    mask = torch.arange(max_len)[None, :] < lengths[:, None]
    x = torch.randint(1, VOCAB, (n, max_len), generator=generator).masked_fill(~mask, 0)
    return x, mask


def evaluate(lab):
    """Rows of evidence for PKL005 on ``lab``'s device (see packlint.selfcheck.lab)."""
    lengths = lab.lengths([5, 2, 7, 1, 4, 6])
    x = lab.tokens(lengths, VOCAB, offset=41)
    model = lab.model(PoolingClassifier)
    q = "pooled logits (max abs error)"

    def v(name):
        return lab.method(name, x, lengths)

    rows = [
        # the training runs use the packed-data references: show they are the grouped ones
        lab.compare_outputs("PKL005", "mean, packed-data reference", q, model,
                            lab.function(reference_mean, x, lengths), None,
                            [lab.function(reference_mean_packed, x, lengths)], tolerance=1e-3),
        lab.compare_outputs("PKL005", "max, packed-data reference", q, model,
                            lab.function(reference_max, x, lengths), None,
                            [lab.function(reference_max_packed, x, lengths)], tolerance=1e-3),
        lab.compare_outputs("PKL005", "mean over time", q, model, lab.function(reference_mean, x, lengths),
                            v("bad_mean_over_time"),
                            [v("good_sum_over_lengths"), v("good_masked_mean")], tolerance=1e-3),
        lab.compare_outputs("PKL005", "max over time", q, model, lab.function(reference_max, x, lengths),
                            v("bad_max_over_time"),
                            [v("good_masked_max"), v("good_max_with_neg_inf_padding")], tolerance=1e-3),
        lab.compare_outputs("PKL005", "max after relu", q, model, lab.function(reference_relu_max, x, lengths),
                            None, [v("good_max_after_relu")], tolerance=1e-3),
        lab.compare_outputs("PKL005", "sum / lengths after a biased layer", q, model,
                            lab.function(reference_mean_after_linear, x, lengths),
                            v("bad_sum_over_lengths_after_linear"),
                            [v("good_masked_mean_after_linear")], tolerance=1e-3),
    ]

    mean_task = lab.task(share_of_high_tokens_task, 2000, 1000)
    rows.append(lab.compare_training(
        "PKL005", "mean: share of high tokens", PoolingClassifier, mean_task, lab.function(reference_mean_packed),
        lab.method("bad_mean_over_time"), [lab.method("good_sum_over_lengths"), lab.method("good_masked_mean")],
        steps=60))
    max_task = lab.task(smallest_token_task, 2000, 1000)
    rows.append(lab.compare_training(
        "PKL005", "max: smallest token", PoolingClassifier, max_task, lab.function(reference_max_packed),
        lab.method("bad_max_over_time"),
        [lab.method("good_masked_max"), lab.method("good_max_with_neg_inf_padding")], steps=60, info=True,
        note="reported, not judged: a GRU learns around max over zero padding (it can keep useful units "
             "positive), so the drop is small, varies with the seed and closes with longer training; the pooled "
             "logits above are wrong at every step"))
    return rows
