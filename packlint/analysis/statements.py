"""Statements: the control flow of one function body. Blocks run until a path ends (``return``, ``raise``),
``if``/``else`` branches are joined (worst case), loops run to a fixpoint within the documented bounds
(``support.LOOP_BOUNDS``, counted in ``--statistics`` when hit), ``with``/``try``/``match`` bodies run in order."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from packlint.analysis import api
from packlint.analysis.events import Event
from packlint.analysis.support import CallSite, TimeBudgetExceeded, const_of, inplace_target, loop_bound
from packlint.analysis.values import (
    CLEAN,
    ClassRef,
    Const,
    DictV,
    Ext,
    ExtObj,
    FuncRef,
    Instance,
    LossOut,
    Many,
    PaddedRow,
    Perm,
    TupleV,
    Unknown,
    Value,
    join,
    same_facts,
    sort_trail,
    word_data,
)

if TYPE_CHECKING:
    from packlint.analysis.calls import Calls
    from packlint.analysis.context import Context
    from packlint.analysis.expressions import Expressions
    from packlint.analysis.operations import Operations
    from packlint.analysis.tensors import TensorEffects


class Statements:
    """Runs the statements of one function body, joining branches and iterating loops to a fixpoint."""

    def __init__(self, ctx: Context, ops: Operations, tensors: TensorEffects, calls: Calls, exprs: Expressions):
        self.ctx = ctx
        self.ops = ops
        self.tensors = tensors
        self.calls = calls
        self.exprs = exprs
        self.project = ctx.project
        self.frame = ctx.frame
        self.module = ctx.module

    def run_block(self, body: Iterable[ast.stmt]) -> None:
        """Run statements in order until one ends the path (``return``, ``raise``): what follows is unreachable
        on this path, and a branch that ended does not flow into the code after its ``if``."""
        deadline = self.project.deadline
        for stmt in body:
            if self.frame.ended:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeBudgetExceeded()
            self.run_stmt(stmt)

    def unread(self, targets: list[ast.expr]) -> bool:
        """Whether every name a statement assigns is never read in the function (nor a global or nonlocal)."""
        func = self.frame.func
        if func is None or not targets or not all(isinstance(t, ast.Name) for t in targets):
            return False
        loaded = self.project.loaded_names(func)
        return not any(t.id in loaded for t in targets)  # type: ignore[attr-defined]

    def run_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            discard = self.unread(stmt.targets)
            self.ctx.discarding, before = discard or self.ctx.discarding, self.ctx.discarding
            try:
                value = self.exprs.eval(stmt.value)
            finally:
                self.ctx.discarding = before
            for target in stmt.targets:
                self.exprs.assign(target, value, stmt.value)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.exprs.assign(stmt.target, self.exprs.eval(stmt.value), stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            left = self.exprs.eval(stmt.target)
            right = self.exprs.eval(stmt.value)
            self.exprs.assign(stmt.target, self.ops.binop(type(stmt.op), left, right, stmt), stmt.value)
        elif isinstance(stmt, ast.Expr):
            if self.grow_list(stmt.value):
                return
            added = _added_module(stmt.value)
            if added is not None:
                # `self.add_module("rnn", nn.LSTM(...))` is `self.rnn = nn.LSTM(...)`
                target, layer = added
                self.exprs.assign(target, self.exprs.eval(layer), layer)
                return
            value = self.exprs.eval(stmt.value)
            target = inplace_target(stmt.value)
            if target is not None and not isinstance(value, Unknown):
                self.exprs.assign(target, value)  # `x.masked_fill_(~mask, -inf)` changes x itself
        elif isinstance(stmt, ast.Return):
            value = self.exprs.eval(stmt.value) if stmt.value is not None else Const(None)
            if stmt.value is not None:
                self.return_stale_states(stmt, value)
                value = self.returned_order(stmt, value)
                if self.frame.func is not None and self.frame.func.node.name == "training_step":
                    self.frame.trained |= _loss_keys(value)  # Lightning trains on what training_step returns
            self.frame.ret = join(self.frame.ret, value) if self.frame.ret is not None else value
            self.frame.ended = True
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            # bound by name, resolved where it is read (``eval_Name``, ``Project.module_global``): resolving here
            # parsed every module a body imports, used or not (fairseq: 100 of its 200 parsed modules)
            for local, qual in self.project.bindings_for(self.module, stmt).items():
                self.frame.env[local] = Ext(qual)
        elif isinstance(stmt, ast.If):
            self.run_if(stmt)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self.run_loop(stmt)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                v = self.exprs.eval(item.context_expr)
                if item.optional_vars is not None:
                    self.exprs.assign(item.optional_vars, v if isinstance(v, (Instance, ExtObj)) else CLEAN)
            self.run_block(stmt.body)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            before = dict(self.frame.env)
            self.run_block(stmt.body)
            after_body = dict(self.frame.env)
            outs = [] if self.frame.ended else [after_body]
            for handler in stmt.handlers:
                self.frame.ended = False  # an exception can leave the body anywhere, a return included
                self.frame.env = self.join_envs(before, after_body)
                self.run_block(handler.body)
                if not self.frame.ended:
                    outs.append(dict(self.frame.env))
            self.frame.ended = not outs
            if outs:
                merged = outs[0]
                for o in outs[1:]:
                    merged = self.join_envs(merged, o)
                self.frame.env = merged
                self.run_block(stmt.orelse)
            ended, self.frame.ended = self.frame.ended, False
            self.run_block(stmt.finalbody)  # runs on every way out, a return included
            self.frame.ended = self.frame.ended or ended
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            fid = self.project.func_id_for(self.module, stmt)
            self.frame.env[stmt.name] = FuncRef(fid) if fid else CLEAN
            if fid and self.frame.func is not None:
                self.project.closures[fid] = self.frame.env
        elif isinstance(stmt, ast.ClassDef):
            cid = self.project.class_id_for(self.module, stmt)
            self.frame.env[stmt.name] = ClassRef(cid) if cid else CLEAN
        elif isinstance(stmt, ast.Match):
            before = dict(self.frame.env)
            self.exprs.eval(stmt.subject)
            merged = None
            for case in stmt.cases:
                self.frame.env = dict(before)
                self.run_block(case.body)
                if not self.frame.ended:
                    merged = self.frame.env if merged is None else self.join_envs(merged, self.frame.env)
                self.frame.ended = False
            self.frame.env = self.join_envs(before, merged or before)  # no case may match
        elif isinstance(stmt, (ast.Raise, ast.Assert, ast.Delete)):
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    self.exprs.eval(child)
            if isinstance(stmt, ast.Raise):
                self.frame.ended = True

    def grow_list(self, call: ast.expr) -> bool:
        """``xs.append(v)``, ``xs.extend(vs)``, ``xs.insert(i, v)`` on a list variable: the list now also holds
        ``v`` (per-step scores collected in a loop, then stacked). True when the statement was such a call."""
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and
                call.func.attr in ("append", "extend", "insert") and isinstance(call.func.value, ast.Name)):
            return False
        current = self.frame.env.get(call.func.value.id)
        if not isinstance(current, (TupleV, Many)):
            return False
        args = [self.exprs.eval(a) for a in call.args]
        added = args[-1] if args else CLEAN
        if call.func.attr == "extend":
            added = self.ops.element_of(added)
        items = list(current.items) if isinstance(current, TupleV) else [current.elem]
        self.frame.env[call.func.value.id] = Many(self.ops.join_all([*items, added]))
        return True

    def run_if(self, stmt: ast.If) -> None:
        """Both branches from the same state, joined; a branch that ended (``return``, ``raise``) does not reach
        the code after the ``if``: `if self.tensors.pool: return out.mean(1)` then `return out`."""
        verdict = self.exprs.truth(stmt.test)
        before = dict(self.frame.env)
        if verdict is not False:
            self.run_block(stmt.body)
        then_env, then_ended = self.frame.env, self.frame.ended
        self.frame.env, self.frame.ended = dict(before), False
        if verdict is not True:
            self.run_block(stmt.orelse)
        else_env, else_ended = self.frame.env, self.frame.ended
        if verdict is True or (else_ended and not then_ended):
            self.frame.env, self.frame.ended = then_env, then_ended
        elif verdict is False or (then_ended and not else_ended):
            self.frame.env, self.frame.ended = else_env, else_ended
        else:
            self.frame.env = self.join_envs(then_env, else_env)
            self.frame.ended = then_ended and else_ended

    def run_loop(self, stmt: ast.For | ast.AsyncFor | ast.While) -> None:
        """Run the body until the environment at its head stops changing (a fixpoint of the join), so a value
        carried through any number of loop variables (`c = b; b = a; a = out`) reaches every use.

        Facts only climb the lattice and its height is small, so a loop settles in a few passes; the bound
        (``loop_bound``) only catches pathological growth (a list nested one level deeper on every pass). When it
        is hit, the last join stands (an under-approximation of what further passes would add) and the hit is
        counted for ``--statistics``. Events of the passes before the last are dropped: the last pass starts from
        the fixpoint, so its events are the complete, final ones."""
        padded = _pads_up_to_a_length(stmt)
        if padded is not None:
            name, fill = padded
            self.run_loop_body(stmt)
            what = f"`{self.ctx.text(stmt.test, 40)}` pads `{name}` with `{self.ctx.text(fill, 20)}`"
            step = self.ctx.step(stmt, what)
            self.frame.env[name] = PaddedRow((step,), pad=const_of(self.exprs.eval(fill)))
            return
        self.run_loop_body(stmt)

    def run_loop_body(self, stmt: ast.For | ast.AsyncFor | ast.While) -> None:
        entry = dict(self.frame.env)
        is_for = not isinstance(stmt, ast.While)
        if is_for:
            elem = self.ops.element_of(self.exprs.eval(stmt.iter))
        else:
            self.exprs.eval(stmt.test)
        bound = loop_bound(self.frame.loop_depth)
        mark = len(self.frame.events)
        self.frame.loop_depth += 1
        try:
            for _ in range(bound):
                del self.frame.events[mark:]
                self.frame.env = dict(entry)
                if is_for:
                    self.exprs.assign(stmt.target, elem, stmt.iter)
                self.run_block(stmt.body)
                if self.frame.ended:  # a return in the body: nothing of this pass comes back to the head
                    self.frame.ended = False
                    self.frame.env = entry
                if not is_for:
                    self.exprs.eval(stmt.test)
                after = self.join_envs(entry, self.frame.env)
                if same_facts(after, entry):
                    break
                entry = after
            else:
                self.project.note_loop_bound(self.module.path)
        finally:
            self.frame.loop_depth -= 1
        self.frame.env = entry  # the body may run zero times: the head's join covers both
        self.run_block(stmt.orelse)

    def join_envs(self, a: dict[str, Value], b: dict[str, Value]) -> dict[str, Value]:
        """Two paths' variables joined. Most variables are the very same object on both paths (set before the
        branch): those are kept as they are, without a join."""
        out = dict(a)
        for k, v in b.items():
            old = a.get(k)
            if old is v:
                continue
            out[k] = v if old is None else join(old, v)
        return out

    def returned_order(self, stmt: ast.Return, value: Value) -> Value:
        """A function that sorts the batch it was given (``x[perm]`` before packing) and returns one tensor still in
        that order hands its callers rows they cannot match with their own batch: PKL102 here, where the inverse
        belongs. Returning the permutation or the sorted lengths beside it leaves the bookkeeping to the caller
        (not reported); once reported, the returned order is no longer known, so callers do not report it again."""
        func = self.frame.func
        order = value.order
        if func is None or not order or isinstance(value, (TupleV, Many, DictV, Perm, Const)):
            return value
        first, last = func.node.lineno, getattr(func.node, "end_lineno", func.node.lineno)

        def made_here(site: str) -> bool:
            path, line, _ = site.rsplit(":", 2)
            return path == self.module.path and first <= int(line) <= last

        if not any(made_here(step.site) for step in order):
            return value
        trail = sort_trail(order)
        line, col = self.ctx.pos(stmt)
        self.ctx.emit(Event("batch-order", self.module.path, line, col, status="returned",
                            subject=self.ctx.text(stmt.value, 60), callee=func.qualname, trail=trail,
                            details=(("first", self.ctx.text(stmt.value, 40)), ("first_order", word_data(order)))),
                      stmt)
        return replace(value, order=None)

    def return_stale_states(self, stmt: ast.Return, value: Value) -> None:
        """A state that stepped through padding, returned by a function analysed on its own, is handed out as the
        sequence's encoding (an encoder returning ``h_n`` of a batch it padded). Analysed for one caller, the
        function only passes the state up: that caller's use of it decides (a decoder's final state that the
        training step discards is not reported)."""
        if self.frame.func is None or not self.frame.root:
            return
        own = [s for s in self.calls.stale_states(value) if s.rnn is not None]
        if own:
            self.calls.use_stale_states(CallSite(stmt, own, {}, []), "returned as the encoding", own)


def _loss_keys(value: Value) -> set:
    """The loss events a returned value holds (a loss, or a dict or tuple holding one)."""
    if isinstance(value, LossOut):
        return set(value.keys)
    if isinstance(value, TupleV):
        return {k for v in value.items for k in _loss_keys(v)}
    if isinstance(value, DictV):
        return {k for _, v in value.items for k in _loss_keys(v)}
    return set()


def _pads_up_to_a_length(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
    """``while len(row) < n: row.append(PAD)``: a list padded by hand to a common length. (name, the filler)."""
    if not isinstance(stmt, ast.While) or stmt.orelse or len(stmt.body) != 1:
        return None
    test, body = stmt.test, stmt.body[0]
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Lt, ast.LtE))
            and isinstance(test.left, ast.Call) and isinstance(test.left.func, ast.Name) and test.left.func.id == "len"
            and len(test.left.args) == 1 and isinstance(test.left.args[0], ast.Name)):
        return None
    name = test.left.args[0].id
    call = body.value if isinstance(body, ast.Expr) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "append" and \
            isinstance(call.func.value, ast.Name) and call.func.value.id == name and len(call.args) == 1 and \
            _is_pad_filler(call.args[0]):
        return name, call.args[0]
    return None


def _is_pad_filler(node: ast.expr) -> bool:
    """A literal, a name that says padding (``PAD``, ``self.pad_id``) or a constant in capitals: what a loop that
    pads appends. ``batch.append(item)`` fills a batch; it does not pad."""
    if isinstance(node, ast.Constant) or (isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)):
        return True
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return "pad" in name.lower() or (name.isupper() and len(name) > 1)


def _added_module(call: ast.expr) -> tuple[ast.Attribute, ast.expr] | None:
    """``obj.add_module("name", layer)`` / ``obj.register_module("name", layer)`` with a literal name: the
    attribute it sets (as a target ``obj.name``) and the layer expression."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and
            call.func.attr in api.SETS_SUBMODULE and len(call.args) == 2 and not call.keywords):
        return None
    name = call.args[0]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.isidentifier()):
        return None
    target = ast.Attribute(value=call.func.value, attr=name.value, ctx=ast.Store())
    return ast.copy_location(target, call), call.args[1]

