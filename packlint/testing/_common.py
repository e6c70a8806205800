"""What both checks share: lazy torch, seeded runs that leave the caller's RNGs alone, tolerances by dtype, finding
the caller's modules and naming their parameters, and comparing tensors.

Nothing here imports torch at module level: every function that needs it takes or imports it when called.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import sys
import types
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

# (rtol, atol) by dtype. A tensor ``after`` matches ``before`` when max|after - before| <= atol + rtol * max|before|,
# the maxima taken over the whole tensor (one gradient, one sequence's output): a norm-wise test, so rounding noise
# on an entry that is tiny next to the tensor's largest one does not fail it.
TOLERANCES = {
    "float64": (1e-7, 1e-10),
    "float32": (1e-4, 1e-6),
    "float16": (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-3),
}
# float32 on CUDA: cuDNN may run RNNs and convolutions in TF32 (torch's default allows it), and a batch of one and a
# batch of six take different kernels, so the same sequence's result differs by about 1e-3 relative.
CUDA_FLOAT32 = (2e-3, 1e-5)


def import_torch():
    """``import torch`` without the warning torch prints when numpy is missing (nothing here uses numpy)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
    return torch


def tolerances(dtype: Any, device: Any = "cpu") -> tuple[float, float]:
    """The default (rtol, atol) for tensors of ``dtype`` on ``device`` (a torch dtype or its name, a device or str).

    Integer and bool tensors must match exactly: (0.0, 0.0).
    """
    name = str(dtype).replace("torch.", "")
    dev = str(device).split(":")[0]
    if name == "float32" and dev == "cuda":
        return CUDA_FLOAT32
    if name in TOLERANCES:
        return TOLERANCES[name]
    if name.startswith("complex"):
        return TOLERANCES["float64" if name == "complex128" else "float32"]
    return (0.0, 0.0)


def resolve_tolerances(rtol: float | None, atol: float | None, dtype, device) -> tuple[float, float]:
    d_rtol, d_atol = tolerances(dtype, device)
    return (d_rtol if rtol is None else float(rtol), d_atol if atol is None else float(atol))


def tolerance_line(dtype, device, rtol: float, atol: float) -> str:
    name = str(dtype).replace("torch.", "")
    return (f"{name} on {device}: rtol={rtol:g}, atol={atol:g} "
            f"(a tensor matches when max|after - before| <= atol + rtol * max|before|)")


# ----- seeded runs ---------------------------------------------------------------------------------------------
def cuda_devices(torch, tensors: Iterable) -> list[int]:
    """CUDA devices whose RNG a run may use: all of them once CUDA is in use (initialised, or holding a tensor of
    the batch), none otherwise, so that a CPU-only check never initialises CUDA."""
    if not torch.cuda.is_available():
        return []
    if torch.cuda.is_initialized() or any(getattr(t, "is_cuda", False) for t in tensors):
        return list(range(torch.cuda.device_count()))
    return []


@contextlib.contextmanager
def seeded(torch, seed: int, devices: list[int]) -> Iterator[None]:
    """Seed torch (CPU and ``devices``), Python's ``random`` and, when imported, numpy's global RNG with ``seed``;
    on exit put every one of them back as it was, so the caller's random streams continue undisturbed."""
    py_state = random.getstate()
    np = sys.modules.get("numpy")
    np_state = np.random.get_state() if np is not None and hasattr(np, "random") else None
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for d in devices:
            with torch.cuda.device(d):
                torch.cuda.manual_seed(seed)
        random.seed(seed)
        if np_state is not None:
            np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py_state)
            if np_state is not None:
                np.random.set_state(np_state)


def cpu_generator(torch, seed: int, offset: int):
    """A CPU generator for the perturbations themselves: drawn on CPU and moved, so a seed gives the same values on
    every device."""
    return torch.Generator().manual_seed(seed * 1_000_003 + offset)


# ----- the caller's modules --------------------------------------------------------------------------------------
def find_modules(torch, fn, explicit=None) -> list[tuple[str, Any]]:
    """(label, module) for the ``nn.Module`` objects ``fn`` uses, outermost only.

    ``explicit`` (a module or a list of them) wins. Otherwise look where a test's callable keeps its model: a bound
    method's ``self``, a module called directly, ``functools.partial`` arguments, closure cells, globals the code
    names, default arguments, and one attribute level into plain objects found there (``trainer.model``).
    """
    Module = torch.nn.Module
    found: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def add(label: str, obj, depth: int = 1) -> None:
        if isinstance(obj, Module):
            if id(obj) not in seen:
                seen.add(id(obj))
                found.append((label, obj))
            return
        if inspect.ismethod(obj):  # a bound method kept in a closure: `method = model.loss`
            add(label, obj.__self__, depth)
            return
        if isinstance(obj, (list, tuple)) and depth > 0:
            for i, item in enumerate(obj):
                add(f"{label}[{i}]", item, depth - 1)
            return
        if isinstance(obj, dict) and depth > 0:
            for k, item in obj.items():
                if isinstance(k, str):
                    add(f"{label}[{k!r}]", item, depth - 1)
            return
        if depth <= 0 or isinstance(obj, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
                                           str, bytes, int, float, bool)) or obj is None:
            return
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict) and not torch.is_tensor(obj):
            for k, v in list(attrs.items()):
                add(f"{label}.{k}", v, depth - 1)

    if explicit is not None:
        items = list(explicit) if isinstance(explicit, (list, tuple)) else [explicit]
        for i, m in enumerate(items):
            if not isinstance(m, Module):
                raise TypeError(f"model= takes nn.Module objects, got {type(m).__name__}")
            add("model" if len(items) == 1 else f"model[{i}]", m)
        return found

    def scan(f, depth: int) -> None:
        while isinstance(f, functools.partial):
            for i, a in enumerate(f.args):
                add(f"arg{i}", a)
            for k, v in (f.keywords or {}).items():
                add(k, v)
            f = f.func
        if isinstance(f, Module):
            add("model", f)
            return
        if inspect.ismethod(f):
            add("self", f.__self__)
            f = f.__func__
        code = getattr(f, "__code__", None)
        if code is None:
            if callable(f) and not isinstance(f, (types.BuiltinFunctionType, type)):
                add(type(f).__name__, f)  # a callable object: look at its attributes
            return
        for name, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            add(name, value)
            if depth > 0 and inspect.isfunction(value):
                scan(value, depth - 1)
        glob = getattr(f, "__globals__", {})
        for name in code.co_names:
            if name in glob:
                value = glob[name]
                add(name, value)
                if depth > 0 and inspect.isfunction(value) and getattr(value, "__module__", None) == f.__module__:
                    scan(value, depth - 1)
        for i, value in enumerate(getattr(f, "__defaults__", None) or ()):
            add(f"default{i}", value)
        for k, value in (getattr(f, "__kwdefaults__", None) or {}).items():
            add(k, value)

    scan(fn, 1)
    # keep the outermost: a module found both as `model` and as `model.head` is named once, from `model`
    inner = {id(sub) for _, m in found for sub in list(m.modules())[1:]}
    return [(label, m) for label, m in found if id(m) not in inner]


def parameter_names(modules: list[tuple[str, Any]]) -> dict[int, tuple[int, str]]:
    """id(parameter) -> (order, name). One module: its own names (``head.bias``); several: prefixed by the label
    they were found under (``encoder.rnn.weight_hh_l0``)."""
    out: dict[int, tuple[int, str]] = {}
    prefix = len(modules) > 1
    for label, module in modules:
        for name, p in module.named_parameters():
            if id(p) not in out:
                out[id(p)] = (len(out), f"{label}.{name}" if prefix else name)
    return out


@contextlib.contextmanager
def eval_mode(modules: list[tuple[str, Any]]) -> Iterator[None]:
    """Every module (and submodule) in eval mode; each one's own ``training`` flag restored afterwards."""
    saved = [(m, m.training) for _, top in modules for m in top.modules()]
    for _, top in modules:
        top.eval()
    try:
        yield
    finally:
        for m, flag in saved:
            m.training = flag


# ----- parameters and gradients ---------------------------------------------------------------------------------
def explicit_params(torch, params) -> list[tuple[str, Any]]:
    """``params`` as (name, tensor): a Module, a mapping name -> tensor, (name, tensor) pairs, or bare tensors."""
    if isinstance(params, torch.nn.Module):
        return [(n, p) for n, p in params.named_parameters() if p.requires_grad]
    if isinstance(params, dict):
        items = list(params.items())
    else:
        items = []
        for i, item in enumerate(params):
            if torch.is_tensor(item):
                items.append((f"params[{i}]", item))
            else:
                name, tensor = item
                items.append((str(name), tensor))
    for name, t in items:
        if not torch.is_tensor(t) or not t.requires_grad:
            raise ValueError(f"params: {name!r} is not a tensor that requires grad")
    return items


def graph_leaves(loss) -> list:
    """The leaf tensors that ``loss`` was computed from and that require grad (parameters, mostly)."""
    out, seen, stack = [], set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        var = getattr(node, "variable", None)
        if var is not None:
            out.append(var)
        stack.extend(nxt for nxt, _ in node.next_functions)
    return out


def name_leaves(leaves: list, names: dict[int, tuple[int, str]]) -> list[tuple[str, Any]]:
    """(name, leaf), named parameters first in their modules' order, others as ``<tensor of shape (..)>``."""
    named = sorted((names[id(t)] + (t,) for t in leaves if id(t) in names), key=lambda x: x[0])
    out = [(name, t) for _, name, t in named]
    for t in leaves:
        if id(t) not in names:
            out.append((f"<tensor of shape {tuple(t.shape)}>", t))
    return out


def gradients(torch, loss, leaves: list) -> list:
    """d loss / d leaf for each leaf, zeros for a leaf the loss does not reach; the leaves' ``.grad`` untouched."""
    if not leaves:
        return []
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g.detach() for t, g in zip(leaves, grads)]


# ----- comparing ------------------------------------------------------------------------------------------------
@dataclass
class Diff:
    """How far ``after`` is from ``before``: the largest absolute difference, where, and what was allowed."""

    moved: float
    scale: float  # max |before|
    allowed: float
    where: tuple | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.moved <= self.allowed

    @property
    def relative(self) -> float:
        return self.moved / self.scale if self.scale > 0 else (0.0 if self.moved == 0 else float("inf"))

    def describe(self) -> str:
        if self.note:
            return self.note
        at = f" at [{', '.join(str(i) for i in self.where)}]" if self.where else ""
        share = f"{self.relative:.1%} of its largest entry" if self.scale > 0 else "its reference is all zeros"
        return f"by {self.moved:.3g} max abs{at} ({share}; allowed {self.allowed:.2g})"


def compare(torch, before, after, rtol: float, atol: float) -> Diff:
    """Norm-wise comparison; a non-finite entry in ``after`` where ``before`` is finite counts as an infinite move."""
    if tuple(before.shape) != tuple(after.shape):
        return Diff(float("inf"), 0.0, 0.0, note=f"shape {tuple(after.shape)} instead of {tuple(before.shape)}")
    a = before.detach()
    b = after.detach()
    if a.is_complex() or b.is_complex():
        a, b = torch.view_as_real(a.to(torch.complex128)), torch.view_as_real(b.to(torch.complex128))
    a = a.to(torch.float64)
    b = b.to(torch.float64)
    if a.numel() == 0:
        return Diff(0.0, 0.0, atol)
    finite = torch.isfinite(a)
    scale = float(a[finite].abs().max()) if bool(finite.any()) else 0.0
    both_nan = torch.isnan(a) & torch.isnan(b)
    same_inf = torch.isinf(a) & (a == b)
    diff = (a - b).abs().masked_fill(both_nan | same_inf, 0.0)
    diff = diff.nan_to_num(nan=float("inf"))
    flat = int(diff.argmax())
    moved = float(diff.reshape(-1)[flat])
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(a.shape))) if a.dim() else None
    return Diff(moved, scale, atol + rtol * scale, where)


def non_finite(torch, t) -> bool:
    return bool((~torch.isfinite(t.detach())).any()) if t.is_floating_point() or t.is_complex() else False


def fmt(x: float) -> str:
    return f"{x:.6g}"


class InconclusiveCheck(RuntimeError):
    """The check could not decide: the function is not reproducible under a fixed seed, so a difference would say
    nothing about padding or batching."""


__all__ = ["tolerances", "InconclusiveCheck"]
