"""The analyser's knowledge of the PyTorch API, as data.

Every qualified name or tensor-method name the engine treats specially is listed here with its kind and the
reason it is there. The interpreter (``calls.py``, ``tensors.py``) looks names up in these tables; it never
compares strings of its own.
User additions from ``[tool.packlint.api]`` are merged into the same tables by :func:`extend_tables`.

Kinds of callables (``Callable.kind``):
- ``source``: returns a padded value (``pad_packed_sequence``).
- ``pack``: packs a padded batch, remembering lengths and ``batch_first``.
- ``target-source``: pads targets with a known padding value (``pad_sequence``).
- ``loss``: a loss function; ``loss-class`` builds a loss object; ``masked-loss``/``masked-loss-class`` are
  length-aware losses that sanitize their own inputs (CTC).
- ``mask-builder``: returns a mask built from its first argument (lengths).
- ``propagate``: keeps padding (the first tensor argument's), ``layer``/``biased-layer`` are module classes
  whose call keeps the time axis (a biased layer makes padded steps non-zero), ``recurrent`` is an RNN class.
- ``arange``, ``where``, ``masked-select``, ``concat``, ``matmul``, ``softmax``, ``reduce``: handled by the
  dedicated transfer function of that name in ``calls.py``.
- ``loader``: a ``DataLoader``, whose iteration yields what its ``collate_fn`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RNN_UTILS = "torch.nn.utils.rnn"
F = "torch.nn.functional"


@dataclass(frozen=True)
class Callable:
    """A qualified name the engine knows, what kind of transfer function applies, and why."""

    qualname: str
    kind: str
    why: str
    # For losses: which positional index holds the prediction and the target, whether ignore_index applies.
    pred_arg: int = 0
    target_arg: int = 1
    ignore_index: bool = False
    reduction_default: str = "mean"
    zero_at_zero: bool = False  # the term for prediction 0 and target 0 is 0 (MSE, L1): zeroing both sides masks
    weight: str = ""  # "class": weight= holds per-class weights; "element": per-element weights (a mask works)


def _entries(kind: str, why: str, names: list[str], **extra) -> list[Callable]:
    return [Callable(name, kind, why, **extra) for name in names]


_CE_LIKE = ["cross_entropy", "nll_loss"]
_ZERO_AT_ZERO_LOSSES = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]
_WEIGHTED_LOSSES = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]
_PLAIN_LOSSES = [
    "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
    "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss", "hinge_embedding_loss",
]
_CE_CLASSES = ["CrossEntropyLoss", "NLLLoss"]
#: torchmetrics (an optional library) regression metrics, functional and module forms: element-wise over both
#: inputs like mse_loss. A metric scores padding like a loss, but it is a training loss (and a finding) only where
#: it is used as one: ``.backward()``-ed, or returned by ``training_step``.
_METRIC_FUNCTIONS = ["mean_squared_error", "mean_absolute_error"]
_METRIC_CLASSES = ["MeanSquaredError", "MeanAbsoluteError"]
_ZERO_AT_ZERO_CLASSES = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"]
_WEIGHTED_CLASSES = ["BCELoss", "BCEWithLogitsLoss"]
_PLAIN_LOSS_CLASSES = [
    "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
    "HingeEmbeddingLoss",
]
# Element-wise and shape functions, each under the namespace that really has it (a test checks them in torch).
_TORCH_ELEMENTWISE = [
    "relu", "tanh", "sigmoid", "selu", "dropout", "exp", "log", "abs", "neg", "clone", "detach", "log_softmax",
    "squeeze", "unsqueeze", "flatten", "reshape", "transpose", "permute", "layer_norm", "narrow", "clamp", "pow",
    "sqrt",
]
_FUNCTIONAL_ELEMENTWISE = [
    "relu", "tanh", "sigmoid", "gelu", "elu", "selu", "leaky_relu", "silu", "dropout", "log_softmax", "layer_norm",
    "normalize",
]
_LAYERS_NO_BIAS_EFFECT = ["Dropout", "ReLU", "Tanh", "Sigmoid", "GELU", "ELU", "LeakyReLU", "Identity", "Softplus"]
_BIASED_LAYERS = ["Linear", "LayerNorm", "Conv1d", "Bilinear", "BatchNorm1d"]
#: Layers that mix every position of their last axis into each output (a Linear over an axis that holds time
#: leaves no time axis), and layers whose outputs are >= 0 (zero padding cannot win a max after them).
MIXES_LAST_AXIS = frozenset({"torch.nn.Linear", "torch.nn.Bilinear"})
NON_NEGATIVE_LAYERS = frozenset({"torch.nn.ReLU", "torch.nn.ReLU6"})
#: Products whose operands can be swapped: ``h.dot(x)`` transfers as ``x.dot(h)`` when only ``x`` is padded.
SYMMETRIC_PRODUCTS = frozenset({"dot", "mul", "multiply"})
#: Calls that train on the loss they are given (``loss.backward()``, ``self.manual_backward(loss)``,
#: ``accelerator.backward(loss)``): a metric reaching one of them is a training loss.
TRAINS_ON = frozenset({"backward", "manual_backward"})
#: Module methods that set a submodule by name: ``self.add_module("rnn", layer)`` is ``self.rnn = layer``.
SETS_SUBMODULE = frozenset({"add_module", "register_module"})
_RECURRENT = ["LSTM", "GRU", "RNN"]

CALLABLES: list[Callable] = [
    Callable(f"{RNN_UTILS}.pad_packed_sequence", "source", "returns the padded batch and the lengths"),
    Callable(f"{RNN_UTILS}.pack_padded_sequence", "pack", "packs a padded batch; lengths and batch_first recorded"),
    Callable(f"{RNN_UTILS}.pad_sequence", "target-source", "pads a list of sequences with padding_value"),
    *_entries("loss", "cross-entropy-like loss that honours ignore_index", [f"{F}.{n}" for n in _CE_LIKE],
              ignore_index=True, weight="class"),
    *_entries("loss", "element-wise loss: every position of both inputs is a term",
              [f"{F}.{n}" for n in _PLAIN_LOSSES]),
    *_entries("loss", "element-wise loss whose term is 0 where prediction and target are both 0",
              [f"{F}.{n}" for n in _ZERO_AT_ZERO_LOSSES], zero_at_zero=True),
    *_entries("loss", "element-wise loss taking per-element weights", [f"{F}.{n}" for n in _WEIGHTED_LOSSES],
              weight="element"),
    *_entries("loss-class", "cross-entropy-like loss class that honours ignore_index",
              [f"torch.nn.{n}" for n in _CE_CLASSES], ignore_index=True, weight="class"),
    *_entries("loss-class", "element-wise loss class", [f"torch.nn.{n}" for n in _PLAIN_LOSS_CLASSES]),
    *_entries("loss-class", "element-wise loss class whose term is 0 where prediction and target are both 0",
              [f"torch.nn.{n}" for n in _ZERO_AT_ZERO_CLASSES], zero_at_zero=True),
    *_entries("loss-class", "element-wise loss class taking per-element weights",
              [f"torch.nn.{n}" for n in _WEIGHTED_CLASSES], weight="element"),
    *_entries("metric", "torchmetrics regression metric: a loss where it is used as one",
              [f"torchmetrics.functional.{n}" for n in _METRIC_FUNCTIONS] +
              [f"torchmetrics.functional.regression.{n}" for n in _METRIC_FUNCTIONS], zero_at_zero=True),
    *_entries("metric-class", "torchmetrics regression metric module: a loss where it is used as one",
              [f"torchmetrics.{n}" for n in _METRIC_CLASSES] +
              [f"torchmetrics.regression.{n}" for n in _METRIC_CLASSES], zero_at_zero=True),
    Callable(f"{F}.ctc_loss", "masked-loss", "CTC reads input_lengths and target_lengths: padding never scored"),
    Callable("torch.nn.CTCLoss", "masked-loss-class", "CTC reads input_lengths and target_lengths"),
    *_entries("propagate", "element-wise or shape op: keeps every time step",
              [f"torch.{n}" for n in _TORCH_ELEMENTWISE] + [f"{F}.{n}" for n in _FUNCTIONAL_ELEMENTWISE]),
    *_entries("propagate", "function form of a tensor method: same transfer as the method",
              [f"torch.{n}" for n in ("index_select", "gather", "masked_fill", "mul", "div", "add", "sub", "narrow",
                                      "chunk", "split", "squeeze", "unsqueeze", "t")]),
    *_entries("layer", "module that keeps the time axis and maps zero to zero",
              [f"torch.nn.{n}" for n in _LAYERS_NO_BIAS_EFFECT]),
    *_entries("biased-layer", "module that keeps the time axis; padded steps become non-zero",
              [f"torch.nn.{n}" for n in _BIASED_LAYERS]),
    Callable("torch.nn.Sequential", "sequential", "calls its layers in turn"),
    *_entries("softmax-layer", "nn.Softmax(dim) / nn.LogSoftmax(dim): a softmax over the given axis",
              ["torch.nn.Softmax", "torch.nn.LogSoftmax"]),
    *_entries("crf", "CRF layer: its call is a log-likelihood over every step unless given mask=",
              ["torchcrf.CRF", "TorchCRF.CRF", "allennlp.modules.conditional_random_field.ConditionalRandomField"]),
    *_entries("recurrent", "RNN module: on a PackedSequence it returns (PackedSequence, h_n)",
              [f"torch.nn.{n}" for n in _RECURRENT]),
    Callable("torch.arange", "arange", "a time index: comparing it with lengths builds a length mask"),
    Callable("torch.where", "where", "torch.where(mask, x, 0) zeroes the masked-out steps"),
    Callable("torch.masked_select", "masked-select", "drops the masked-out steps"),
    Callable("torch.cat", "concat", "keeps padding of any part"),
    Callable("torch.stack", "concat", "keeps padding of any part"),
    Callable("torch.bmm", "matmul", "batched product: scores keep the time axis of the padded side"),
    Callable("torch.matmul", "matmul", "product: scores keep the time axis of the padded side"),
    Callable("torch.einsum", "einsum", "keeps padding of the operands"),
    Callable("torch.softmax", "softmax", "normalises over one axis"),
    Callable(f"{F}.softmax", "softmax", "normalises over one axis"),
    Callable("torch.sum", "reduce", "reduction"),
    Callable("torch.mean", "reduce", "reduction"),
    Callable("torch.max", "reduce", "reduction"),
    Callable("torch.amax", "reduce", "reduction"),
    Callable("torch.logsumexp", "reduce", "reduction"),
    Callable(f"{F}.max_pool1d", "pool1d", "pooling over the last axis"),
    Callable(f"{F}.avg_pool1d", "pool1d", "pooling over the last axis"),
    Callable(f"{F}.adaptive_max_pool1d", "pool1d", "output size 1: a max over the whole last axis"),
    Callable(f"{F}.adaptive_avg_pool1d", "pool1d", "output size 1: a mean over the whole last axis"),
    Callable("torch.finfo", "finfo", "finfo(dtype).min is the large negative masks fill with"),
    Callable("torch.utils.data.DataLoader", "loader", "iterating yields what collate_fn returns"),
    Callable("torch.as_tensor", "same", "keeps the origin of lengths"),
    Callable("torch.tensor", "same", "keeps the origin of lengths"),
    Callable("torch.LongTensor", "same", "keeps the origin of lengths"),
    Callable("torch.IntTensor", "same", "keeps the origin of lengths"),
    Callable("torch.sort", "sort", "returns (values, permutation)"),
    Callable("torch.argsort", "sort", "returns a permutation"),
    Callable("torch.ones_like", "fresh", "a new tensor: not derived from lengths or padding"),
    Callable("torch.zeros_like", "fresh", "a new tensor: not derived from lengths or padding"),
    Callable("torch.ones", "fresh", "a new tensor: not derived from lengths or padding"),
    Callable("torch.zeros", "fresh", "a new tensor: not derived from lengths or padding"),
    Callable("torch.full_like", "fresh", "a new tensor full of one value: acts like that value"),
    Callable("torch.full", "fresh", "a new tensor full of one value: acts like that value"),
    Callable("torch.randn", "fresh", "a new tensor"),
    Callable("torch.rand", "fresh", "a new tensor"),
    Callable("torch.empty", "fresh", "a new tensor"),
    Callable("torch.nn.Parameter", "parameter", "wraps a tensor: a learned query vector keeps its rank"),
    Callable("super", "super", "the next class in the method resolution order"),
    Callable("enumerate", "enumerate", "yields (index, element)"),
    Callable("zip", "zip", "yields tuples of elements"),
    Callable("reversed", "same", "yields the elements"),
    Callable("sorted", "same", "yields the elements"),
    Callable("list", "same", "holds the elements"),
    Callable("tuple", "same", "holds the elements"),
    Callable("iter", "same", "yields the elements"),
    Callable("next", "element", "the first element"),
    Callable("getattr", "getattr", "attribute read by name"),
    Callable("float", "float", "float('-inf') is a constant masks fill with"),
    *_entries("keep-key", "a number read off lengths stays tied to them", ["max", "int"]),
    Callable("range", "range", "yields each position in turn: a loop counter picks one step of an axis at a time"),
    *_entries("builtin", "a Python builtin: its result carries no padding",
              ["print", "len", "isinstance", "min", "str", "dict", "set", "hasattr", "setattr", "round",
               "abs", "sum", "any", "all", "type", "open"]),
]

# Tensor methods: name -> transfer kind (see interp.MethodTransfer). Methods absent here keep padding on a padded
# tensor and keep the origin key on a lengths tensor: shape and dtype ops are the common case in real code.
TENSOR_METHODS: dict[str, str] = {
    "view": "reshape", "reshape": "reshape", "flatten": "flatten", "view_as": "reshape-unknown",
    "reshape_as": "reshape-unknown",
    "transpose": "transpose", "permute": "permute", "t": "transpose2d", "squeeze": "squeeze",
    "unsqueeze": "unsqueeze", "unflatten": "unflatten", "contiguous": "keep", "to": "keep", "float": "keep",
    "double": "keep",
    "half": "keep", "long": "keep", "int": "keep", "bool": "keep", "type": "keep", "type_as": "keep",
    "cuda": "keep", "cpu": "keep", "clone": "keep", "detach": "keep", "expand": "keep", "expand_as": "keep",
    "repeat": "keep", "chunk": "split", "split": "split", "unbind": "split",
    "log_softmax": "log-softmax", "softmax": "softmax", "relu": "nonneg", "sigmoid": "keep-nonzero",
    "tanh": "keep", "exp": "keep-nonzero", "log": "log", "abs": "nonneg", "neg": "keep", "clamp": "keep",
    "sum": "reduce", "mean": "reduce", "max": "reduce", "amax": "reduce", "min": "reduce", "amin": "reduce",
    "logsumexp": "reduce", "norm": "reduce", "prod": "reduce",
    "masked_fill": "masked-fill", "masked_fill_": "masked-fill", "add_": "add", "masked_select": "masked-select",
    "mul": "mul", "mul_": "mul", "__mul__": "mul", "div": "div", "div_": "div", "add": "add", "sub": "sub",
    "sub_": "sub",
    "gather": "gather", "index_select": "index-select", "bmm": "matmul", "matmul": "matmul", "mm": "matmul",
    "ne": "compare-ne", "eq": "compare-eq", "gt": "compare-gt", "lt": "compare-lt", "ge": "compare-ge",
    "le": "compare-le", "logical_not": "invert", "bitwise_not": "invert",
    "size": "opaque", "dim": "opaque", "numel": "opaque", "item": "opaque", "tolist": "keep",
    "numpy": "keep", "backward": "opaque", "argmax": "opaque", "nonzero": "opaque",
}

# Parameters of losses that make them length-aware or change what they count.
LOSS_KEYWORDS = {"ignore_index": "ignore_index", "reduction": "reduction"}
DEFAULT_IGNORE_INDEX = -100


@dataclass
class Tables:
    """The lookup tables in force for one run: the built-ins plus the user's ``[tool.packlint.api]``."""

    callables: dict[str, Callable] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)

    def callable(self, qualname: str) -> Callable | None:
        return self.callables.get(qualname)


USER_KINDS = {
    "mask-builders": ("mask-builder", "user table: builds a length mask from its first argument"),
    "masked-losses": ("masked-loss", "user table: a loss that masks its own inputs"),
    "losses": ("loss", "user table: a plain loss"),
    "sources": ("source", "user table: returns a padded tensor"),
    "propagators": ("propagate", "user table: keeps padding"),
}


def build_tables(user_api: dict[str, list[str]] | None = None) -> Tables:
    """Built-in tables, extended by ``{"mask-builders": [qualname, ...], ...}`` from the configuration."""
    tables = Tables(callables={c.qualname: c for c in CALLABLES}, methods=dict(TENSOR_METHODS))
    for key, names in (user_api or {}).items():
        kind, why = USER_KINDS[key]
        for name in names:
            tables.callables[name] = Callable(name, kind, why)
    return tables
