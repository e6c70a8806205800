"""The analyser's name tables name things that exist: every torch qualified name resolves in torch 2.13, every
tensor method in TENSOR_METHODS is a method of torch.Tensor, every table kind has its transfer function."""

from __future__ import annotations

import builtins
import importlib

import pytest

from packlint.analysis import api
from packlint.analysis.calls import Calls


def _resolve(qualname: str):
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualname)


@pytest.mark.parametrize("entry", [c for c in api.CALLABLES if c.qualname.startswith("torch.")],
                         ids=lambda c: c.qualname)
def test_torch_names_exist(entry) -> None:
    pytest.importorskip("torch")
    assert _resolve(entry.qualname) is not None


def test_builtin_names_exist() -> None:
    for entry in api.CALLABLES:
        if "." not in entry.qualname:
            assert hasattr(builtins, entry.qualname), entry.qualname


def test_tensor_methods_exist() -> None:
    torch = pytest.importorskip("torch")
    missing = [m for m in api.TENSOR_METHODS if m != "__mul__" and not hasattr(torch.Tensor, m)]
    assert not missing


def test_every_kind_has_a_transfer_function() -> None:
    kinds = {c.kind for c in api.CALLABLES}
    for kind in kinds:
        if kind in ("loss-class", "masked-loss-class", "layer", "biased-layer", "recurrent", "softmax-layer"):
            continue  # objects: their call is handled where the object is called
        assert hasattr(Calls, "ext_" + kind.replace("-", "_")), kind


@pytest.mark.parametrize("qualname", sorted(api.MIXES_LAST_AXIS | api.NON_NEGATIVE_LAYERS))
def test_layer_name_sets_exist(qualname) -> None:
    pytest.importorskip("torch")
    assert _resolve(qualname) is not None


@pytest.mark.parametrize("entry", [c for c in api.CALLABLES if c.qualname.startswith("torchmetrics.")],
                         ids=lambda c: c.qualname)
def test_optional_library_names_exist_where_installed(entry) -> None:
    """Names of optional libraries (torchmetrics) live in the tables like torch's; checked where installed."""
    pytest.importorskip(entry.qualname.split(".", 1)[0])
    assert _resolve(entry.qualname) is not None
