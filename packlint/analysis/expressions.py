"""Expressions: syntax to abstract values. Each ``eval_<Node>`` evaluates its operands and hands the values
to the operations, the calls or the tensor part; assignment targets (names, tuples, subscripts, attributes) are
bound here too, since comprehensions and ``:=`` bind inside expressions."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING

from packlint.analysis import api
from packlint.analysis.support import MODULE_RETURNS_SELF, CallSite, compare_literals, const_of, is_neg_large, key_of
from packlint.analysis.values import (
    BATCH,
    CLEAN,
    TIME,
    ClassRef,
    Const,
    DictV,
    Dropped,
    EllipsisIndex,
    Ext,
    ExtObj,
    Fresh,
    FuncRef,
    Instance,
    Lengths,
    LossFn,
    LossOut,
    Many,
    Mask,
    MaskBias,
    MaskRef,
    Padded,
    PaddedRow,
    PaddedTarget,
    Perm,
    PerStep,
    Ranked,
    SliceIndex,
    StepIndex,
    Super,
    TupleV,
    Unknown,
    Value,
    ZeroClass,
    Zeroed,
    compose_order,
    inverse_order,
    join,
)

if TYPE_CHECKING:
    from packlint.analysis.calls import Calls
    from packlint.analysis.context import Context
    from packlint.analysis.operations import Operations


#: Node type -> the name of its ``Expressions.eval_*`` method (looked up on the class at each use, so a test can
#: still replace one).
_EVAL_NAME: dict[type, str] = {}


class Expressions:
    """Evaluates expressions of one function body to abstract values, and binds assignment targets."""

    def __init__(self, ctx: Context, ops: Operations, calls: Calls):
        self.ctx = ctx
        self.ops = ops
        self.calls = calls
        self.project = ctx.project
        self.frame = ctx.frame
        self.module = ctx.module

    def lookup(self, name: str) -> Value:
        env = self.frame.env
        if name in env:
            return env[name]
        closure = self.frame.closure
        if closure is not None and name in closure:
            return closure[name]  # a nested function reads its enclosing function's variables (self, layers)
        g = self.module.current_globals
        if name in g:
            return self.project.global_value(self.module, name) if self.module.body_frame is not None else g[name]
        return Ext(name)

    def truth(self, test: ast.expr) -> bool | None:
        """Fold ``x is None`` / ``x is not None`` / ``not x`` / a known constant flag / a comparison of two known
        literals (a rank query ``k.dim() == 2`` on known axes included); None when unknown.

        ``if mask.any():`` before applying a padding mask is taken as true: when the mask holds nowhere, applying it
        changes nothing, so the masked path describes both."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.truth(test.operand)
            return None if inner is None else not inner
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "any" and \
                not test.args and isinstance(self.eval(test.func.value), Mask):
            return True
        if isinstance(test, (ast.Name, ast.Attribute)):
            v = self.eval(test)
            if isinstance(v, Const) and isinstance(v.value, (bool, int, type(None))):
                return bool(v.value)  # a flag set by the constructor: Encoder(pad=False)
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            comp = test.comparators[0]
            if isinstance(comp, ast.Constant) and comp.value is None and isinstance(test.ops[0], (ast.Is, ast.IsNot)):
                v = self.eval(test.left)
                known_none = isinstance(v, Const) and v.value is None
                # a value bound from a named variable (`lengths=lengths`) is taken to be given; only a missing
                # argument (its default None) or an explicit None is None
                known_obj = isinstance(v, (Mask, Padded, PaddedTarget, Lengths, Instance, ExtObj, LossFn, Dropped,
                                           MaskBias, Fresh, TupleV, DictV, Zeroed)) or (
                    isinstance(v, Unknown) and self.frame.depth > 0)
                if isinstance(test.ops[0], ast.Is):
                    return True if known_none else (False if known_obj else None)
                return False if known_none else (True if known_obj else None)
            # both sides known literals: `self.method == "dot"` (a constructor's literal), `k.dim() == 2`
            return compare_literals(type(test.ops[0]), self.eval(test.left), self.eval(comp))
        self.eval(test)
        return None

    def assign(self, target: ast.expr, value: Value, value_node: ast.AST | None = None) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, Padded):
                value = value.with_trail(self.ctx.step(target, f"`{target.id}`"))
            self.frame.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.ops.unpack(value, len(target.elts))
            for elem, item in zip(target.elts, items):
                self.assign(elem, item, value_node)
        elif isinstance(target, ast.Attribute):
            base = target.value
            if isinstance(base, ast.Name):
                # `self.x = v`: a local view for the rest of this function; a constructor's final values become
                # the class's attributes when its analysis ends (so `if cond: self.x = False` stays conditional)
                self.frame.env[f"{base.id}.{target.attr}"] = value
        elif isinstance(target, ast.Subscript):
            self.assign_subscript(target, value)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, Many(value), value_node)

    def index_nodes(self, node: ast.Subscript) -> list[ast.expr]:
        sl = node.slice
        return list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]

    def assign_subscript(self, target: ast.Subscript, value: Value) -> None:
        """``y[~mask] = -100`` pads targets with a known value; ``mask[i, :l] = 1`` builds a length mask."""
        if not isinstance(target.value, ast.Name):
            self.eval(target.value)
            return
        name = target.value.id
        base = self.lookup(name)
        indices = [self.eval_index(el) for el in self.index_nodes(target)]
        at = self.ops.batch_axis(value)
        perm = indices[at] if at < len(indices) else None
        if isinstance(perm, Perm) and not isinstance(value, (TupleV, Many, DictV)):
            # y[perm] = out puts out's rows back where perm took them from: y holds out in perm's inverse order
            self.frame.env[name] = replace(value, order=compose_order(value.order, inverse_order(perm.word or None)))
            return
        masks = [v for v in indices if isinstance(v, Mask)]
        if isinstance(base, Fresh) and isinstance(value, Const) and value.value == 0:
            if masks:  # mask = ones_like(tags); mask[tags == PAD] = 0
                self.frame.env[name] = Mask(masks[0].ref, inverted=not masks[0].inverted)
                return
            if len(indices) == 1 and isinstance(indices[0], Const) and isinstance(indices[0].value, int):
                self.frame.env[name] = ZeroClass(frozenset({indices[0].value}))  # weight[PAD] = 0
                return
        if isinstance(base, (Fresh, Const)) and self.fills_rows(base, indices, value):
            pad = base.value if isinstance(base, Const) else 0 if isinstance(base, Ranked) else None
            self.frame.env[name] = PaddedTarget(trail=(self.ctx.step(target, f"`{name}` padded row by row"),),
                                                pad=pad, axes=(BATCH, TIME))
            return
        if isinstance(base, Fresh) and isinstance(value, Padded) and value.stepped and \
                any(isinstance(v, StepIndex) for v in indices):
            # energies[b, i] = h[b].dot(enc[i, b]) in loops over the steps: a buffer of scores from padded steps,
            # whose axes packlint cannot name
            axes = base.axes if isinstance(base, Ranked) and base.axes and TIME in base.axes else None
            self.frame.env[name] = replace(value, axes=axes, stepped=False)
            return
        if isinstance(base, Fresh):
            bounds = [v.bound for v in indices if isinstance(v, SliceIndex) and v.bound is not None]
            for upper in bounds:
                if isinstance(upper, (Unknown, Lengths)):
                    # mask[i, :l] = 1 marks the real steps; mask[i, :l] = 0 (on ones) marks the padded ones
                    zero = isinstance(value, Const) and value.value in (0, False)
                    self.frame.env[name] = Mask(MaskRef("lengths", key_of(upper)), inverted=zero)
                    return
        if masks and isinstance(value, Const):
            m = masks[0]
            if isinstance(base, Padded):
                self.frame.env[name] = replace(base, filled=value.value, zeroed=m.ref if value.value == 0 else None,
                                               masked=is_neg_large(value.value))
            elif m.inverted and not isinstance(base, (Padded, PerStep)):
                self.frame.env[name] = PaddedTarget(trail=(), pad=value.value)
        elif isinstance(base, DictV):
            key = indices[0] if len(indices) == 1 else None
            if isinstance(key, Const):
                items = tuple((k, v) for k, v in base.items if k != key.value) + ((key.value, value),)
                self.frame.env[name] = replace(base, items=items)

    @staticmethod
    def fills_rows(base: Value, indices: list[Value], value: Value) -> bool:
        """``batch = torch.full((B, T), PAD)`` (or ``torch.zeros(B, T)``), then ``batch[i, :len(s)] = s``: a row's
        real steps written with a tensor (not a constant, which builds a mask) up to a length, the rest left
        padding. A constant fill must be a number; a fresh tensor must have two axes."""
        if isinstance(base, Const) and (not isinstance(base.value, (int, float)) or isinstance(base.value, bool)):
            return False
        if isinstance(base, Fresh) and not (isinstance(base, Ranked) and base.rank == 2):
            return False
        if len(indices) != 2 or isinstance(indices[0], (SliceIndex, EllipsisIndex)):
            return False
        row = indices[1]
        if not (isinstance(row, SliceIndex) and row.lower is None and row.upper is not None and
                not isinstance(row.upper, Const)):
            return False
        return not isinstance(value, (Const, Mask, Padded, PaddedTarget, PerStep))

    def eval(self, node: ast.expr | None) -> Value:
        if node is None:
            return Const(None)
        kind = type(node)
        name = _EVAL_NAME.get(kind)
        if name is None:  # the first node of its kind: its method's name, built once
            name = _EVAL_NAME[kind] = "eval_" + kind.__name__
        method = getattr(Expressions, name, None)
        if method is None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.eval(child)
            return CLEAN
        return method(self, node)

    def eval_Name(self, node: ast.Name) -> Value:
        v = self.lookup(node.id)
        if isinstance(v, Ext):
            return self.project.resolve(v.qualname, self.module)
        return v

    def eval_Constant(self, node: ast.Constant) -> Value:
        return Const(node.value)

    def eval_JoinedStr(self, node: ast.JoinedStr) -> Value:
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                self.eval(part.value)
        return CLEAN

    def eval_Tuple(self, node: ast.Tuple) -> Value:
        return TupleV(tuple(self.eval(e) for e in node.elts))

    eval_List = eval_Tuple

    def eval_Set(self, node: ast.Set) -> Value:
        return Many(self.ops.join_all(self.eval(e) for e in node.elts))

    def eval_Dict(self, node: ast.Dict) -> Value:
        items = []
        for k_node, v_node in zip(node.keys, node.values):
            v = self.eval(v_node)
            if k_node is None:
                if isinstance(v, DictV):
                    items.extend(v.items)
                continue
            k = self.eval(k_node)
            if isinstance(k, Const):
                items.append((k.value, v))
        return DictV(tuple(items))

    def eval_Lambda(self, node: ast.Lambda) -> Value:
        return CLEAN

    def eval_Await(self, node: ast.Await) -> Value:
        return self.eval(node.value)

    def eval_Starred(self, node: ast.Starred) -> Value:
        return self.eval(node.value)

    def eval_NamedExpr(self, node: ast.NamedExpr) -> Value:
        v = self.eval(node.value)
        self.assign(node.target, v)
        return v

    def eval_IfExp(self, node: ast.IfExp) -> Value:
        verdict = self.truth(node.test)
        if verdict is True:
            return self.eval(node.body)
        if verdict is False:
            return self.eval(node.orelse)
        return join(self.eval(node.body), self.eval(node.orelse))

    def eval_BoolOp(self, node: ast.BoolOp) -> Value:
        out: Value | None = None
        for v in (self.eval(n) for n in node.values):
            if isinstance(v, Const) and v.value is None:
                continue
            out = v if out is None else join(out, v)
        return out if out is not None else CLEAN

    def comprehension(self, node, elt_nodes: list[ast.expr]) -> list[Value]:
        saved = dict(self.frame.env)
        for gen in node.generators:
            elem = self.ops.element_of(self.eval(gen.iter))
            self.assign(gen.target, elem)
            for cond in gen.ifs:
                self.eval(cond)
        out = [self.eval(e) for e in elt_nodes]
        self.frame.env = saved
        return out

    def eval_ListComp(self, node: ast.ListComp) -> Value:
        return Many(self.comprehension(node, [node.elt])[0])

    eval_GeneratorExp = eval_ListComp
    eval_SetComp = eval_ListComp

    def eval_DictComp(self, node: ast.DictComp) -> Value:
        self.comprehension(node, [node.key, node.value])
        return CLEAN

    def eval_Attribute(self, node: ast.Attribute) -> Value:
        base_node = node.value
        if isinstance(base_node, ast.Name):
            local = f"{base_node.id}.{node.attr}"
            if local in self.frame.env:
                return self.frame.env[local]
        base = self.eval(base_node)
        return self.calls.attribute(base, node.attr, node)

    def eval_Subscript(self, node: ast.Subscript) -> Value:
        base = self.eval(node.value)
        indices = [self.eval_index(el) for el in self.index_nodes(node)]
        return self.ops.subscript(base, indices, node)

    def eval_index(self, sl: ast.expr) -> Value:
        """An index element's value: a :class:`SliceIndex` for ``a:b:c``, :class:`EllipsisIndex` for ``...``."""
        if isinstance(sl, ast.Slice):
            return SliceIndex(*(self.eval(b) if b is not None else None for b in (sl.lower, sl.upper, sl.step)))
        if isinstance(sl, ast.Constant) and sl.value is Ellipsis:
            return EllipsisIndex()
        return self.eval(sl)

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Value:
        v = self.eval(node.operand)
        if isinstance(node.op, (ast.Invert, ast.Not)):
            if isinstance(v, Mask):
                return replace(v, inverted=not v.inverted)
            return v if not isinstance(node.op, ast.Not) else CLEAN
        if isinstance(node.op, ast.USub) and isinstance(v, Const) and isinstance(v.value, (int, float)):
            return Const(-v.value)
        return v

    def eval_BinOp(self, node: ast.BinOp) -> Value:
        left, right = self.eval(node.left), self.eval(node.right)
        fill = node.right
        if isinstance(node.op, ast.Add) and isinstance(fill, ast.BinOp) and isinstance(fill.op, ast.Mult) and \
                isinstance(fill.left, ast.List) and len(fill.left.elts) == 1 and _fills_up_to_a_length(fill.right):
            # `row + [PAD] * (max_len - len(row))`: a row padded by hand to the batch's length
            return PaddedRow((self.ctx.step(node, f"`{self.ctx.text(node, 40)}` pads the row"),),
                             pad=const_of(self.eval(fill.left.elts[0])))
        return self.ops.binop(type(node.op), left, right, node)

    def eval_Compare(self, node: ast.Compare) -> Value:
        left = self.eval(node.left)
        result: Value = CLEAN
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp)
            result = self.ops.compare(type(op), left, right, node)
            left = right
        return result

    def unread_arguments(self, node: ast.Call) -> tuple[set[int], set[str]]:
        """The positional indices and keywords of a call into a function of the tree whose parameters the callee
        never reads: what is passed there is not used (a last-step read handed to it is no finding)."""
        if not node.args and not node.keywords:
            return set(), set()
        func, info, offset = node.func, None, 0
        if isinstance(func, ast.Name):
            ref = self.lookup(func.id)
            if isinstance(ref, Ext):  # an imported function, bound by name
                ref = self.project.resolve(ref.qualname, self.module)
            if isinstance(ref, FuncRef):
                info = self.project.functions.get(ref.func_id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            base = self.lookup(func.value.id)
            fid = self.project.lookup_method(base.class_id, func.attr) if isinstance(base, Instance) else None
            if fid:
                info = self.project.functions.get(fid)
                offset = 0 if info is not None and "staticmethod" in info.decorators else 1
        if info is None or info.node.args.vararg or info.node.args.kwarg:
            return set(), set()
        params = [p.arg for p in info.node.args.posonlyargs + info.node.args.args]
        loaded = self.project.loaded_names(info)
        unread = {i for i, arg in enumerate(node.args) if not isinstance(arg, ast.Starred) and
                  i + offset < len(params) and params[i + offset] not in loaded}
        return unread, {k.arg for k in node.keywords if k.arg is not None and k.arg not in loaded}

    def eval_discarded(self, node: ast.expr, discard: bool) -> Value:
        before = self.ctx.discarding
        self.ctx.discarding = before or discard
        try:
            return self.eval(node)
        finally:
            self.ctx.discarding = before

    def eval_Call(self, node: ast.Call) -> Value:
        pos: list[Value] = []
        kw: dict[str, Value] = {}
        pos_nodes: list[ast.expr] = []
        unread_pos, unread_kw = self.unread_arguments(node)
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                v = self.eval(arg.value)
                pos.append(Many(v) if not isinstance(v, TupleV) else v)
            else:
                pos.append(self.eval_discarded(arg, i in unread_pos))
            pos_nodes.append(arg)
        for keyword in node.keywords:
            v = self.eval_discarded(keyword.value, keyword.arg in unread_kw)
            if keyword.arg is not None:
                kw[keyword.arg] = v
            elif isinstance(v, DictV):
                for k, item in v.items:
                    if isinstance(k, str):
                        kw[k] = item
        call = CallSite(node, pos, kw, pos_nodes)
        if isinstance(node.func, ast.Attribute) and node.func.attr in api.TRAINS_ON:
            for value in pos:
                if isinstance(value, LossOut):
                    self.frame.trained |= value.keys  # `accelerator.backward(loss)`, `self.manual_backward(loss)`
        func = node.func
        if isinstance(func, ast.Attribute):
            base = self.eval(func.value)
            if isinstance(base, Instance) and func.attr in MODULE_RETURNS_SELF and not \
                    self.project.lookup_method(base.class_id, func.attr):
                return base  # nn.Module.to()/train()/cuda() return the module itself
            if isinstance(base, (Ext, Instance, Super, ClassRef)):
                callee = self.calls.attribute(base, func.attr, func)
                return self.calls.call_value(callee, call, attr_callee=isinstance(base, Instance))
            return self.calls.method_call(base, func.attr, call)
        if isinstance(func, ast.Subscript):
            table, key = self.eval(func.value), self.eval(func.slice)
            if isinstance(table, DictV) and not isinstance(key, Const) and table.items:
                # a factory picked from a table by a key packlint cannot read (`TRAINERS[name](model)`): any entry
                # may run, so each is called and the outcomes joined
                out: Value | None = None
                for _, candidate in sorted(table.items, key=lambda kv: repr(kv[0])):
                    out = join(out, self.calls.call_value(candidate, call, attr_callee=False))
                return out if out is not None else CLEAN
        callee = self.eval(func)
        return self.calls.call_value(callee, call, attr_callee=False)


def _fills_up_to_a_length(count: ast.expr) -> bool:
    """How many pad tokens ``row + [PAD] * count`` adds: up to a common length (``max_len - len(row)``, ``n - l``)
    pads the row; a fixed count (``[SEP] * 2``) only appends tokens."""
    return isinstance(count, ast.BinOp) and isinstance(count.op, ast.Sub) or any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "len" for n in ast.walk(count))

