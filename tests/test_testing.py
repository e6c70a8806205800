"""packlint.testing: the runtime invariance checks users put in their own test suites.

Every bad variant of the self-check's cases that is a loss or a per-sequence output fails the check that can see
it (padding invariance for a loss that reads padded values, batch invariance for last steps, pooling, attention,
normalisation and layout), every good variant passes both; fresh models written here and the docs' example are
caught with their bug and pass fixed; dropout, RNG state, seeds, dtypes, layouts and the pytest plugin are covered.
"""

from __future__ import annotations

import importlib
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    torch = pytest.importorskip("torch")

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence  # noqa: E402

from packlint.selfcheck.cases import (  # noqa: E402
    pkl001_unmasked_loss as c001,
    pkl002_unmasked_target as c002,
    pkl003_padded_last_step as c003,
    pkl004_batch_first_mismatch as c004,
    pkl005_pooling_over_padding as c005,
    pkl006_unmasked_attention as c006,
    pkl007_mask_normalisation as c007,
    pkl009_bidirectional_last_step as c009,
)
from packlint.testing import (  # noqa: E402
    BatchDependence,
    InconclusiveCheck,
    PaddingLeak,
    assert_batch_invariant,
    assert_padding_invariant,
    tolerances,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "testing.md"
LENGTHS = [5, 2, 7, 1, 4, 6]
PLUGIN = ("-p", "packlint.testing.pytest_plugin", "-p", "no:packlint", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: a second intra-op thread only adds contention (see packlint.selfcheck.THREADS)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----- data and models ------------------------------------------------------------------------------------------
def gen(offset: int) -> torch.Generator:
    return torch.Generator().manual_seed(offset)


def int_seqs(low, high, offset, lengths=LENGTHS):
    g = gen(offset)
    return [torch.randint(low, high, (n,), generator=g) for n in lengths]


def float_seqs(offset, lengths=LENGTHS, *shape):
    g = gen(offset)
    return [torch.randn(n, *shape, generator=g, dtype=torch.float64) for n in lengths]


def fresh(cls, *args, dtype=torch.float64):
    torch.manual_seed(0)
    return cls(*args).to(dtype)


def padded(seqs, value=0):
    return pad_sequence(seqs, batch_first=True, padding_value=value)


TOKENS = int_seqs(1, 12, 1)
TAGS = int_seqs(0, 5, 2)
VALUES = float_seqs(3)


def tag_batch(pad_tags=0):
    return {"x": padded(TOKENS), "lengths": torch.tensor(LENGTHS), "y": padded(TAGS, pad_tags)}


def variant(model, name):
    """``lambda b: model.<name>(**b)``, named for readable test ids and messages."""
    method = getattr(model, name)
    return lambda b: method(**b)


def verdict(name: str) -> str:
    return "bad" if name.startswith("bad_") else "good"


# ----- padding invariance on the self-check's losses ---------------------------------------------------------------
TAGGER_PADDING = [
    ("bad_unmasked_ce", "leak"),
    ("bad_per_step_mean", "leak"),
    ("bad_zeroed_logits", "pass"),  # padded terms are a constant log(C): only batch invariance sees it (below)
    ("good_mask_multiply", "pass"),
    ("good_masked_fill", "pass"),
    ("good_where", "pass"),
    ("good_boolean_index", "pass"),
    ("good_masked_select", "pass"),
    ("good_packed_data", "pass"),
]


@pytest.mark.parametrize("name,expected", TAGGER_PADDING)
def test_pkl001_tagger_loss_padding(name, expected):
    model = fresh(c001.Tagger)
    check = lambda: assert_padding_invariant(variant(model, name), tag_batch(), "lengths", ["x", "y"])  # noqa: E731
    if expected == "pass":
        check()
        return
    with pytest.raises(PaddingLeak) as info:
        check()
    assert info.value.tensors == ["'y'"]  # the targets' padding, not the tokens' (packing hides those)
    assert info.value.parameters == ["head.bias"]  # pad steps' logits are head(0) = its bias (field notes)
    first = str(info.value).splitlines()[0]
    assert first.startswith("padding leaks into the gradients: the gradient of 'head.bias' moved by ")
    assert "when the padded positions of 'y' were overwritten with" in first


def test_ignore_index_is_a_sentinel_checked_with_pad_values():
    """Targets padded with the loss's ignore_index are a mask by value: pad_values tries only that value."""
    model = fresh(c001.Tagger)
    fn = variant(model, "good_ignore_index")  # ignore_index=-100
    assert_padding_invariant(fn, tag_batch(pad_tags=-100), "lengths", ["x", "y"], pad_values={"y": -100})
    with pytest.raises(PaddingLeak, match="'y'"):  # the default perturbations overwrite the sentinel: by design
        assert_padding_invariant(fn, tag_batch(pad_tags=-100), "lengths", ["x", "y"])
    with pytest.raises(PaddingLeak) as info:  # a collate that padded with 0, a real tag (PKL002)
        assert_padding_invariant(fn, tag_batch(pad_tags=0), "lengths", ["x", "y"], pad_values={"y": -100})
    assert info.value.failures[0].perturbation == "the constant -100"


def test_fn_failing_on_other_padding_is_a_leak_too():
    """A loss that crashes when the padding holds another valid-looking value depends on the padding."""
    model = fresh(c001.Tagger)
    with pytest.raises(PaddingLeak) as info:  # tags 0..4: a padded 7 is only harmless if it is never read
        assert_padding_invariant(variant(model, "bad_unmasked_ce"), tag_batch(), "lengths", "y", pad_values={"y": 7})
    assert info.value.failures[0].error.startswith("IndexError: Target 7 is out of bounds")
    assert str(info.value).startswith("fn depends on padding: it raised IndexError")


@pytest.mark.parametrize("name", ["bad_unmasked_mse", "good_mask_multiply", "good_boolean_index", "good_masked_select"])
def test_pkl001_regression_loss_padding(name):
    model = fresh(c001.Regressor)
    batch = {"x": padded(TOKENS), "lengths": torch.tensor(LENGTHS), "y": padded(VALUES, 0.0)}
    if verdict(name) == "good":
        assert_padding_invariant(variant(model, name), batch, "lengths", ["x", "y"])
        return
    with pytest.raises(PaddingLeak) as info:
        assert_padding_invariant(variant(model, name), batch, "lengths", ["x", "y"])
    assert info.value.tensors == ["'y'"]
    assert "random values (normal" in str(info.value)


@pytest.mark.parametrize("name", ["bad_lm_mask_from_unshifted_lengths", "good_lm_mask_from_shifted_lengths"])
def test_pkl002_language_model_padding(name):
    model = fresh(c002.Tagger, c002.VOCAB)
    lengths = [n + 1 for n in LENGTHS]
    batch = {"tokens": padded(int_seqs(1, 12, 4, lengths)), "lengths": torch.tensor(lengths)}
    fn = variant(model, name)
    if verdict(name) == "good":
        assert_padding_invariant(fn, batch, "lengths", "tokens")
        return
    with pytest.raises(PaddingLeak) as info:  # the mask reaches one step past each input: a padded target
        assert_padding_invariant(fn, batch, "lengths", "tokens")
    assert info.value.tensors == ["'tokens'"]


@pytest.mark.parametrize("case", [c001, c004])
def test_ctc_losses_with_their_own_target_lengths(case):
    model = fresh(case.AcousticModel)
    feat_lengths = [6, 2, 9, 1, 5, 8]
    target_lengths = [(n + 1) // 2 for n in feat_lengths]
    batch = {
        "feats": padded(float_seqs(5, feat_lengths, 6), 0.0),
        "lengths": torch.tensor(feat_lengths),
        "targets": padded(int_seqs(1, 6, 6, target_lengths)),
        "target_lengths": torch.tensor(target_lengths),
    }
    name = "good_ctc_with_lengths" if case is c001 else "good_ctc_time_major"
    assert_padding_invariant(variant(model, name), batch, {"feats": "lengths", "targets": "target_lengths"},
                             ["feats", "targets"])


@pytest.mark.parametrize("name", ["good_loss_on_h_n", "good_loss_on_gathered_last_step"])
def test_sequence_classification_loss_padding(name):
    model = fresh(c001.SequenceClassifier)
    batch = {"x": padded(TOKENS), "lengths": torch.tensor(LENGTHS), "labels": torch.tensor([0, 1, 2, 3, 4, 0])}
    assert_padding_invariant(variant(model, name), batch, "lengths", "x")


# ----- batch invariance of losses (PKL001, PKL002, PKL004, PKL007) ---------------------------------------------------
def _listed(method):
    """Adapt a variant that pads its targets itself: it receives the padded targets cut back to a list."""
    return lambda x, y, lengths: method(x, lengths, [t[:n] for t, n in zip(y, lengths.tolist())])


def loss_cases():
    """(id, build) where build() -> (fn, items, kwargs) for assert_batch_invariant(output='loss')."""
    tag_items = [{"x": x, "y": y} for x, y in zip(TOKENS, TAGS)]
    value_items = [{"x": x, "y": y} for x, y in zip(TOKENS, VALUES)]
    cases = []
    for name in ["bad_unmasked_ce", "bad_zeroed_logits", "bad_per_step_mean", "good_mask_multiply", "good_masked_fill",
                 "good_where", "good_boolean_index", "good_masked_select", "good_packed_data"]:
        cases.append((f"PKL001-{name}", lambda n=name: (variant(fresh(c001.Tagger), n), tag_items, {})))
    cases.append(("PKL001-good_ignore_index", lambda: (variant(fresh(c001.Tagger), "good_ignore_index"), tag_items,
                                                        {"pad_value": {"y": -100}})))
    for name in ["bad_unmasked_mse", "good_mask_multiply", "good_boolean_index", "good_masked_select"]:
        cases.append((f"PKL001-regression-{name}", lambda n=name: (variant(fresh(c001.Regressor), n), value_items, {})))
    for name in ["bad_ignore_index_mismatch", "good_ignore_index_matches", "good_pad_constant", "good_target_pad_mask"]:
        cases.append((f"PKL002-{name}", lambda n=name: (_listed(getattr(fresh(c002.Tagger), n)),
                                                        list(zip(TOKENS, TAGS)), {})))
    for name in ["bad_target_only_masked", "good_both_masked", "good_per_step_masked"]:
        cases.append((f"PKL002-regression-{name}", lambda n=name: (_listed(getattr(fresh(c002.Regressor), n)),
                                                                   list(zip(TOKENS, VALUES)), {})))
    lm = int_seqs(1, 12, 4, [n + 1 for n in LENGTHS])
    for name in ["bad_lm_mask_from_unshifted_lengths", "good_lm_mask_from_shifted_lengths"]:
        cases.append((f"PKL002-{name}", lambda n=name: (getattr(fresh(c002.Tagger, c002.VOCAB), n), lm,
                                                        {"token_counts": lambda t: len(t) - 1})))
    for name in ["bad_unpacked_time_major", "good_unpacked_batch_first", "good_transpose_after_unpacking",
                 "good_permute_after_unpacking"]:
        cases.append((f"PKL004-{name}", lambda n=name: (variant(fresh(c004.Tagger), n), tag_items,
                                                        {"pad_value": {"y": c004.PAD_TAG}})))
    for name in ["bad_masked_mean", "good_over_mask_sum", "good_over_lengths_sum", "good_token_sum",
                 "good_per_sequence_mean"]:
        cases.append((f"PKL007-{name}", lambda n=name: (variant(fresh(c007.Tagger), n), tag_items, {})))
    feat_lengths = [6, 2, 9, 1, 5, 8]
    ctc_items = [{"feats": f, "targets": t} for f, t in zip(float_seqs(5, feat_lengths, 6),
                                                            int_seqs(1, 6, 6, [(n + 1) // 2 for n in feat_lengths]))]
    for case, name in [(c001, "good_ctc_with_lengths"), (c004, "good_ctc_time_major")]:
        def build(case=case, name=name):
            method = getattr(fresh(case.AcousticModel), name)
            return (lambda b: method(b["feats"], b["lengths"], b["targets"], (b["targets"] != 0).sum(1)),
                    ctc_items, {})
        cases.append((f"{case.__name__.rsplit('.', 1)[1][:6].upper()}-{name}", build))
    label_items = [{"x": x, "labels": torch.tensor(i % 5)} for i, x in enumerate(TOKENS)]
    for name in ["good_loss_on_h_n", "good_loss_on_gathered_last_step"]:
        cases.append((f"PKL001-{name}", lambda n=name: (variant(fresh(c001.SequenceClassifier), n), label_items, {})))
    return cases


LOSS_CASES = loss_cases()


@pytest.mark.parametrize("build", [b for _, b in LOSS_CASES], ids=[i for i, _ in LOSS_CASES])
def test_selfcheck_losses_batch_invariance(build, request):
    fn, items, kwargs = build()
    case_id = request.node.callspec.id
    if "-bad_" not in case_id:
        assert_batch_invariant(fn, items, output="loss", **kwargs)
        return
    with pytest.raises(BatchDependence) as info:
        assert_batch_invariant(fn, items, output="loss", **kwargs)
    message = str(info.value)
    assert message.startswith("batch dependence: the padded batch's loss is not what its sequences give alone")
    assert "their token mean" in message and "their mean over sequences" in message and "their sum" in message


# ----- batch invariance of per-sequence outputs (PKL003, PKL005, PKL006, PKL009) -------------------------------------
OUTPUT_CASES = (
    [(c003.LastStepClassifier, n, "pooled") for n in
     ["bad_last_padded_step", "good_h_n", "good_index_at_lengths", "good_gather_at_lengths"]]
    + [(c009.BiGRUClassifier, n, "pooled") for n in ["good_cat_h_n", "good_forward_last_backward_first"]]
    + [(c005.PoolingClassifier, n, "pooled") for n in
       ["bad_mean_over_time", "good_sum_over_lengths", "good_masked_mean", "bad_max_over_time", "good_masked_max",
        "good_max_with_neg_inf_padding", "good_max_after_relu", "bad_sum_over_lengths_after_linear",
        "good_masked_mean_after_linear"]]
    + [(c006.AttentionEncoder, n, ("pooled", "per-step")) for n in
       ["bad_unmasked_softmax", "good_masked_fill_neg_inf", "good_masked_fill_large_negative", "good_additive_mask",
        "good_log_mask", "good_renormalised", "good_masked_softmax_helper"]]
)


@pytest.mark.parametrize("cls,name,output", OUTPUT_CASES, ids=[f"{c.__name__}-{n}" for c, n, _ in OUTPUT_CASES])
def test_selfcheck_outputs_batch_invariance(cls, name, output):
    fn = getattr(fresh(cls), name)
    if verdict(name) == "good":
        assert_batch_invariant(fn, TOKENS, output=output)
        return
    with pytest.raises(BatchDependence) as info:
        assert_batch_invariant(fn, TOKENS, output=output)
    shorter = {i for i, n in enumerate(LENGTHS) if n < max(LENGTHS)}
    assert set(info.value.sequences) <= shorter and info.value.sequences  # the longest has no padding: it agrees
    assert "sequences that agree: 2 (length 7)" in str(info.value)


def test_sorting_without_unsorting_is_caught_by_the_shuffled_order():
    class Sorted(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(12, 6)
            self.rnn = nn.GRU(6, 6, batch_first=True)
            self.head = nn.Linear(6, 3)

        def forward(self, x, lengths):
            lengths, order = lengths.sort(descending=True)
            packed = pack_padded_sequence(self.emb(x[order]), lengths, batch_first=True)
            _, h_n = self.rnn(packed)
            return self.head(h_n[-1])  # still in sorted order: rows no longer match the caller's sequences

    by_length = sorted(TOKENS, key=len, reverse=True)
    assert_batch_invariant(fresh(Sorted), by_length, output="pooled", shuffle=False)  # sorted input hides it
    with pytest.raises(BatchDependence, match="shuffled order"):
        assert_batch_invariant(fresh(Sorted), by_length, output="pooled")


def test_bidirectional_gather_is_beyond_invariance():
    """Documented limit: gathering the backward half at lengths - 1 is wrong alone too, so batching changes nothing."""
    assert_batch_invariant(fresh(c009.BiGRUClassifier).bad_gather_both_halves, TOKENS, output="pooled")


def test_scale_bugs_pass_padding_but_fail_batch_invariance():
    """Zeroed logits and (loss * mask).mean() do not depend on padded values: only the loss decomposition sees them."""
    for cls, name in [(c001.Tagger, "bad_zeroed_logits"), (c007.Tagger, "bad_masked_mean")]:
        fn = variant(fresh(cls), name)
        assert_padding_invariant(fn, tag_batch(), "lengths", ["x", "y"])
        with pytest.raises(BatchDependence):
            assert_batch_invariant(fn, [{"x": x, "y": y} for x, y in zip(TOKENS, TAGS)], output="loss")


def test_loss_gradients_compared_with_the_same_combination():
    """A loss whose value decomposes but whose gradient does not (padding enters only through detach tricks)."""
    model = fresh(c001.Tagger)

    def sneaky(x, lengths, y):
        logits = model(x, lengths)
        mask = torch.arange(logits.size(1))[None, :] < lengths[:, None]
        good = F.cross_entropy(logits[mask], y[mask])
        pad_term = logits.sum() * 0.01
        return good + pad_term - pad_term.detach()  # same value, extra gradient from padded logits

    items = [{"x": x, "y": y} for x, y in zip(TOKENS, TAGS)]
    with pytest.raises(BatchDependence) as info:
        assert_batch_invariant(lambda b: sneaky(**b), items, output="loss")
    assert "gradient of 'head" in str(info.value).splitlines()[0]
    assert_batch_invariant(lambda b: sneaky(**b), items, output="loss", check_grads=False)


# ----- fresh models, written for this test: an unmasked loss and a [:, -1] last step -------------------------------------
class ConvTagger(nn.Module):
    """Embedding -> packed GRU -> Linear over tags; targets padded with 0, a real tag."""

    def __init__(self, vocab=20, tags=6, dim=12):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.proj = nn.Linear(dim, tags)

    def logits(self, tokens, lengths):
        packed = pack_padded_sequence(self.emb(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True)
        return self.proj(out)

    def loss_unmasked(self, tokens, lengths, tags):
        logits = self.logits(tokens, lengths)
        return nn.CrossEntropyLoss()(logits.reshape(-1, logits.size(-1)), tags.reshape(-1))

    def loss_fixed(self, tokens, lengths, tags):
        logits = self.logits(tokens, lengths)
        keep = torch.arange(logits.size(1))[None, :] < lengths[:, None]
        return nn.CrossEntropyLoss()(logits[keep], tags[keep])


class LastStepModel(nn.Module):
    """Embedding -> packed LSTM -> Linear on the last step; forward(x, lengths) -> (batch, classes)."""

    def __init__(self, vocab=20, classes=3, dim=12, fixed=False):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, dim, batch_first=True)
        self.cls = nn.Linear(dim, classes)
        self.fixed = fixed

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        if self.fixed:
            return self.cls(h_n[-1])
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.cls(out[:, -1])


FRESH_LENGTHS = [3, 8, 1, 5]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fresh_tagger_unmasked_loss_caught_and_fixed_passes(dtype):
    model = fresh(ConvTagger, dtype=dtype)
    batch = {"tokens": padded(int_seqs(1, 20, 11, FRESH_LENGTHS)), "lengths": torch.tensor(FRESH_LENGTHS),
             "tags": padded(int_seqs(0, 6, 12, FRESH_LENGTHS))}
    with pytest.raises(PaddingLeak) as info:
        assert_padding_invariant(lambda b: model.loss_unmasked(**b), batch, "lengths", ["tokens", "tags"])
    assert info.value.tensors == ["'tags'"] and info.value.parameters == ["proj.bias"]
    assert str(dtype).replace("torch.", "") + " on cpu" in str(info.value)
    assert_padding_invariant(lambda b: model.loss_fixed(**b), batch, "lengths", ["tokens", "tags"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fresh_classifier_last_step_caught_and_fixed_passes(dtype):
    seqs = int_seqs(1, 20, 13, FRESH_LENGTHS)
    with pytest.raises(BatchDependence) as info:
        assert_batch_invariant(fresh(LastStepModel, dtype=dtype), seqs, output="pooled")
    assert info.value.sequences == [0, 2, 3]  # all but the longest
    torch.manual_seed(0)
    assert_batch_invariant(LastStepModel(fixed=True).to(dtype), seqs, output="pooled")


# ----- dropout, RNG state, seeds ---------------------------------------------------------------------------------------
class DropoutTagger(ConvTagger):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def logits(self, tokens, lengths):
        return super().logits(self.drop_tokens(tokens), lengths)

    def drop_tokens(self, tokens):
        return tokens

    def loss_fixed(self, tokens, lengths, tags):
        logits = self.drop(self.logits(tokens, lengths))
        keep = torch.arange(logits.size(1))[None, :] < lengths[:, None]
        return F.cross_entropy(logits[keep], tags[keep])

    def loss_unmasked(self, tokens, lengths, tags):
        logits = self.drop(self.logits(tokens, lengths))
        return F.cross_entropy(logits.flatten(0, 1), tags.flatten())


def _fresh_batch():
    return {"tokens": padded(int_seqs(1, 20, 11, FRESH_LENGTHS)), "lengths": torch.tensor(FRESH_LENGTHS),
            "tags": padded(int_seqs(0, 6, 12, FRESH_LENGTHS))}


def test_dropout_in_train_mode_padding_check_uses_the_same_seed():
    model = fresh(DropoutTagger).train()
    assert_padding_invariant(lambda b: model.loss_fixed(**b), _fresh_batch(), "lengths", ["tokens", "tags"])
    with pytest.raises(PaddingLeak):
        assert_padding_invariant(lambda b: model.loss_unmasked(**b), _fresh_batch(), "lengths", ["tokens", "tags"])
    assert model.training and model.drop.training  # left in the mode it was given


def test_dropout_in_train_mode_batch_check_runs_eval_and_restores_flags():
    class Dropped(LastStepModel):
        def __init__(self):
            super().__init__(fixed=True)
            self.drop = nn.Dropout(0.5)

        def forward(self, x, lengths):
            return self.drop(super().forward(x, lengths))

    model = fresh(Dropped).train()
    model.cls.eval()  # a mixed state, to see each flag restored as it was
    assert_batch_invariant(lambda x, lengths: model(x, lengths), int_seqs(1, 20, 13, FRESH_LENGTHS), output="pooled")
    assert model.training and model.drop.training and not model.cls.training


def test_randomness_the_check_cannot_switch_off_is_inconclusive():
    weight = torch.randn(4, 3, dtype=torch.float64)

    def noisy(x, lengths):  # no module to put in eval mode: dropout by hand
        return F.dropout(weight[x].sum(1), p=0.5, training=True)

    with pytest.raises(InconclusiveCheck, match="pass model="):
        assert_batch_invariant(noisy, int_seqs(0, 4, 14, FRESH_LENGTHS), output="pooled")


def test_rng_states_are_restored_on_pass_and_on_failure():
    model = fresh(DropoutTagger).train()
    torch.manual_seed(123)
    random.seed(123)
    expected_torch = torch.rand(3)
    expected_py = random.random()
    torch.manual_seed(123)
    random.seed(123)
    assert_padding_invariant(lambda b: model.loss_fixed(**b), _fresh_batch(), "lengths", ["tokens", "tags"])
    with pytest.raises(PaddingLeak):
        assert_padding_invariant(lambda b: model.loss_unmasked(**b), _fresh_batch(), "lengths", ["tokens", "tags"])
    with pytest.raises(BatchDependence):
        assert_batch_invariant(fresh(LastStepModel), int_seqs(1, 20, 13, FRESH_LENGTHS), output="pooled")
    torch.manual_seed(123)  # fresh() reseeds; what matters is below: the checks themselves leave no trace
    random.seed(123)
    state_before = torch.get_rng_state()
    py_before = random.getstate()
    with pytest.raises(PaddingLeak):
        assert_padding_invariant(lambda b: model.loss_unmasked(**b), _fresh_batch(), "lengths", ["tokens", "tags"])
    assert torch.equal(torch.get_rng_state(), state_before) and random.getstate() == py_before
    assert torch.equal(torch.rand(3), expected_torch) and random.random() == expected_py


def test_seed_makes_the_perturbations_repeatable_and_independent_of_global_state():
    model = fresh(ConvTagger)

    def message(seed, global_seed):
        torch.manual_seed(global_seed)
        with pytest.raises(PaddingLeak) as info:
            assert_padding_invariant(lambda b: model.loss_unmasked(**b), _fresh_batch(), "lengths", "tags", seed=seed)
        return str(info.value)

    assert message(0, 1) == message(0, 2)
    assert message(0, 1) != message(5, 1)  # other random tags, same verdict
    assert "seed 5" in message(5, 1)


def test_gradients_of_the_callers_parameters_are_untouched():
    model = fresh(ConvTagger)
    assert_padding_invariant(lambda b: model.loss_fixed(**b), _fresh_batch(), "lengths", ["tokens", "tags"])
    assert all(p.grad is None for p in model.parameters())


# ----- layouts, dtypes, arguments ------------------------------------------------------------------------------------
def test_time_major_batches():
    model = fresh(c001.Tagger)
    batch = {"x": padded(TOKENS).T, "lengths": torch.tensor(LENGTHS), "y": padded(TAGS).T}
    bad = lambda b: model.bad_unmasked_ce(b["x"].T, b["lengths"], b["y"].T)  # noqa: E731
    good = lambda b: model.good_mask_multiply(b["x"].T, b["lengths"], b["y"].T)  # noqa: E731
    with pytest.raises(PaddingLeak, match="time-major"):
        assert_padding_invariant(bad, batch, "lengths", ["x", "y"], batch_first=False)
    assert_padding_invariant(good, batch, "lengths", ["x", "y"], batch_first=False)
    with pytest.raises(ValueError, match="batch_first=False"):
        assert_padding_invariant(good, batch, "lengths", ["x", "y"])
    per_step = lambda x, lengths: model(x.T, lengths).transpose(0, 1)  # (T, B, tags)  # noqa: E731
    assert_batch_invariant(per_step, TOKENS, output="per-step", batch_first=False)


def test_unpacked_bidirectional_rnn_reads_padding():
    class Unpacked(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(12, 8)
            self.rnn = nn.GRU(8, 8, batch_first=True, bidirectional=True)
            self.head = nn.Linear(16, 5)

        def loss(self, x, lengths, y):
            logits = self.head(self.rnn(self.emb(x))[0])  # no packing: the backward half starts in the padding
            mask = torch.arange(x.size(1))[None, :] < lengths[:, None]
            return F.cross_entropy(logits[mask], y[mask])

    model = fresh(Unpacked)
    with pytest.raises(PaddingLeak) as info:
        assert_padding_invariant(lambda b: model.loss(**b), tag_batch(), "lengths", ["x", "y"])
    assert info.value.tensors == ["'x'"] and "rnn.weight_ih_l0_reverse" in info.value.parameters
    with pytest.raises(BatchDependence):
        assert_batch_invariant(lambda b: model.loss(**b), [{"x": x, "y": y} for x, y in zip(TOKENS, TAGS)],
                               output="loss")


def test_tolerances_scale_with_dtype():
    assert tolerances(torch.float64) == (1e-7, 1e-10)
    assert tolerances(torch.float32) == (1e-4, 1e-6)
    assert tolerances("float32", "cuda:0") == (2e-3, 1e-5)
    assert tolerances(torch.int64) == (0.0, 0.0)
    model = fresh(ConvTagger, dtype=torch.float32)
    with pytest.raises(PaddingLeak, match=r"float32 on cpu: rtol=0\.0001, atol=1e-06"):
        assert_padding_invariant(lambda b: model.loss_unmasked(**b), _fresh_batch(), "lengths", "tags")


def test_usage_errors_are_explained():
    model = fresh(ConvTagger)
    full = {"tokens": torch.ones(2, 3, dtype=torch.long), "lengths": torch.tensor([3, 3]),
            "tags": torch.zeros(2, 3, dtype=torch.long)}
    with pytest.raises(ValueError, match="no padded positions"):
        assert_padding_invariant(lambda b: model.loss_fixed(**b), full, "lengths", ["tokens", "tags"])
    with pytest.raises(ValueError, match="no entry 'tgs'"):
        assert_padding_invariant(lambda b: model.loss_fixed(**b), _fresh_batch(), "lengths", ["tgs"])
    with pytest.raises(TypeError, match="scalar loss"):
        assert_padding_invariant(lambda b: model.logits(b["tokens"], b["lengths"]), _fresh_batch(), "lengths",
                                 "tokens")
    with pytest.raises(ValueError, match="every sequence has length 3"):
        assert_batch_invariant(LastStepModel(), [torch.ones(3, dtype=torch.long)] * 2, output="pooled")
    with pytest.raises(ValueError, match="output must be one of"):
        assert_batch_invariant(LastStepModel(), TOKENS, output="mean")


def test_non_finite_gradients_on_the_batch_as_given_fail_clearly():
    class NegInfPad(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(12, 4)
            self.rnn = nn.GRU(4, 4, batch_first=True)
            self.head = nn.Linear(4, 5)

        def loss(self, x, lengths, y):
            packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, padding_value=float("-inf"))
            logits = self.head(out)  # -inf padding, then a Linear: a finite loss, NaN in the Linear's gradient
            mask = torch.arange(x.size(1))[None, :] < lengths[:, None]
            return F.cross_entropy(logits[mask], y[mask])

    model = fresh(NegInfPad)
    with pytest.raises(AssertionError, match="'head.weight' is not finite"):
        assert_padding_invariant(lambda b: model.loss(**b), tag_batch(), "lengths", "x")


def test_batch_of_one_failure_names_the_sequence():
    def breaks_alone(x, lengths):
        if x.size(0) == 1:
            raise RuntimeError("cannot handle a batch of one")
        return x.float().sum(1, keepdim=True)

    with pytest.raises(RuntimeError) as info:
        assert_batch_invariant(breaks_alone, TOKENS, output="pooled")
    assert "raised on sequence 0 alone" in "\n".join(getattr(info.value, "__notes__", []))


# ----- importing never imports torch ------------------------------------------------------------------------------
def test_importing_packlint_testing_does_not_import_torch():
    code = ("import sys, packlint, packlint.testing, packlint.testing.pytest_plugin; "
            "from packlint.testing import assert_padding_invariant, assert_batch_invariant; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# ----- the pytest plugin -------------------------------------------------------------------------------------------
PLUGIN_TEST = '''
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence

class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 3)

    def loss(self, x, lengths, y):
        logits = self.out(self.emb(x))
        return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())  # every step, padding included

def batch():
    g = torch.Generator().manual_seed(0)
    lengths = [3, 1, 4]
    return {"x": pad_sequence([torch.randint(1, 10, (n,), generator=g) for n in lengths], batch_first=True),
            "lengths": torch.tensor(lengths),
            "y": pad_sequence([torch.randint(0, 3, (n,), generator=g) for n in lengths], batch_first=True)}

def test_seed(packlint_seed):
    print("SEED", packlint_seed)

def test_padding(padding_invariant):
    torch.manual_seed(0)
    model = Head()
    padding_invariant(lambda b: model.loss(**b), batch(), "lengths", "y")

def test_batch(batch_invariant):
    torch.manual_seed(0)
    model = Head()
    batch_invariant(lambda x, lengths: model.out(model.emb(x)).mean(1), [torch.tensor([1, 2, 3]), torch.tensor([4])],
                    output="pooled")
'''


def test_plugin_fixtures_and_seed_option(pytester):
    pytester.makepyfile(test_plugin_use=PLUGIN_TEST)
    result = pytester.runpytest(*PLUGIN, "-s", "--packlint-seed", "5")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["packlint-seed: 5", "*SEED 5*"])
    result.stdout.fnmatch_lines(["*PaddingLeak: padding leaks*'y'*", "*seed 5*",
                                 "*rerun with --packlint-seed 5 to repeat these perturbations exactly*"])
    result.stdout.fnmatch_lines(["*BatchDependence: batch dependence: sequence 1 (length 1*"])


def test_plugin_default_seed_ini_and_help(pytester):
    pytester.makepyfile(test_seed="def test_seed(packlint_seed):\n    print('SEED', packlint_seed)\n")
    result = pytester.runpytest(*PLUGIN, "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SEED 0*"])
    pytester.makeini("[pytest]\npacklint_seed = 11\n")
    result = pytester.runpytest(*PLUGIN, "-s")
    result.stdout.fnmatch_lines(["*SEED 11*"])
    result = pytester.runpytest(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(["*--packlint-seed=N*"])


# ----- the docs' example, copied into a new project ---------------------------------------------------------------------
def docs_blocks(kind: str) -> list[tuple[str, str]]:
    """(label, code) of the fenced blocks right after ``<!-- kind: label -->`` comments in docs/testing.md."""
    text = DOCS.read_text(encoding="utf-8")
    pattern = rf"<!-- {kind}: (\S+) -->\n```[a-z]*\n(.*?)```"
    return [(m.group(1), m.group(2)) for m in re.finditer(pattern, text, flags=re.S)]


def _swap(models: str, bug: str) -> str:
    """Replace the line of ``models`` that the bug line rewrites (same text up to its first bracket)."""
    bug_line = bug.strip("\n")
    prefix = re.split(r"[(\[]", bug_line, maxsplit=1)[0]
    lines = models.splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    assert len(hits) == 1, (prefix, hits)
    lines[hits[0]] = bug_line
    return "\n".join(lines) + "\n"


def _normalise(text: str) -> list[str]:
    return [re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", line).rstrip() for line in text.strip().splitlines()]


def test_docs_example_passes_as_written_and_fails_with_each_bug(pytester, monkeypatch):
    examples = dict(docs_blocks("example"))
    bugs = [code for _, code in docs_blocks("bug")]
    outputs = dict(docs_blocks("output"))
    assert set(examples) == {"models.py", "test_invariance.py", "test_with_fixtures.py"} and len(bugs) == 2
    pytester.makepyfile(**{name[:-3]: code for name, code in examples.items()})
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=4)

    expected_failures = ["test_tagger_loss_ignores_padding", "test_classifier_is_batch_invariant"]
    for bug, test_name in zip(bugs, expected_failures):
        pytester.makepyfile(models=_swap(examples["models.py"], bug))
        result = pytester.runpytest(*PLUGIN, "test_invariance.py")
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines([f"FAILED test_invariance.py::{test_name} - *"])

        # the message the docs show is the real one (figures aside): run the failing test here and compare
        monkeypatch.syspath_prepend(str(pytester.path))
        for mod in ("models", "test_invariance"):
            monkeypatch.delitem(sys.modules, mod, raising=False)
        tests = importlib.import_module("test_invariance")
        with pytest.raises(AssertionError) as info:
            getattr(tests, test_name)()
        shown = f"{type(info.value).__name__}: {info.value}"
        assert _normalise(shown) == _normalise(outputs[test_name])
        for mod in ("models", "test_invariance"):
            sys.modules.pop(mod, None)
