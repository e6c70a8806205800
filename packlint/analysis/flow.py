"""Per-function flow: an abstract interpreter over ``ast`` statements.

It evaluates each expression to an abstract value (``values.py``), following assignments, tuple unpacking,
augmented assignment, attribute and method chains, ``if``/``else`` (joined, worst case), loops (to a fixpoint),
comprehensions, ``with`` and ``try``. Calls into functions and classes of the linted tree are analysed in the
caller's context (the arguments' abstract values), memoised, with a depth bound; what a callee does to its
arguments thus crosses calls without any rule knowing. Sinks record :class:`Event` s; the rules judge them.
"""

from __future__ import annotations

import ast
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Iterable

from packlint.analysis.events import Event
from packlint.analysis.support import (
    FLIPPED,
    CallSite,
    CmpOp,
    Frame,
    Operator,
    at_last_real_step,
    compare_literals,
    inplace_target,
    is_large,
    is_neg_large,
    key_of,
    norm_dim,
    offset,
    short_key,
    size_of_axis,
    TimeBudgetExceeded,
    loop_bound,
)
from packlint.analysis.values import (
    ONE,
    AxisSize,
    NotLengths,
    PaddedRow,
    BATCH,
    CLEAN,
    FEAT,
    TIME,
    Arange,
    BidirGathered,
    BoundMethod,
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
    Item,
    Lengths,
    Loader,
    LossFn,
    LossOut,
    Many,
    Mask,
    MaskBias,
    MaskFrac,
    MaskRef,
    Numel,
    Packed,
    Padded,
    PaddedInput,
    PaddedTarget,
    Ranked,
    StaleState,
    Perm,
    PerStep,
    ShapeOf,
    SliceIndex,
    Super,
    TimeLen,
    TimeSum,
    TupleV,
    Unknown,
    Value,
    ZeroClass,
    Zeroed,
    ZeroedReduce,
    is_tainted,
    join,
    same_facts,
)
from packlint.diagnostics import TrailStep

if TYPE_CHECKING:
    from packlint.analysis.project import Project


class FlowMixin:
    """Statements, bindings and expressions: how values move through one function body."""

    project: "Project"
    frame: Frame



    # ------------------------------------------------------------------ helpers
    def pos(self, node: ast.AST) -> tuple[int, int]:
        line = getattr(node, "lineno", 1)
        return (line, self.module.column(line, getattr(node, "col_offset", 0)))

    def step(self, node: ast.AST, what: str) -> TrailStep:
        line, col = self.pos(node)
        return TrailStep(self.module.path, line, col, what)

    def text(self, node: ast.AST, limit: int = 48) -> str:
        code = self.module.segment(node)
        code = " ".join(code.split())
        if len(code) <= limit:
            return code
        cut = code[: limit - 3]
        for sep in (", ", "(", " "):  # end at an argument or call boundary, not inside a name
            at = cut.rfind(sep)
            if at > limit // 2:
                cut = cut[: at + len(sep.strip())]
                break
        return cut + "..."

    def emit(self, event: Event, node: ast.AST | None = None) -> None:
        if node is not None:
            end = getattr(node, "end_lineno", None)
            if end is not None and end != event.line:
                event = replace(event, end_line=end)
        self.frame.events.append(event)

    def wrong_lengths(self, value: Value, time_len: ast.AST | None = None) -> NotLengths | None:
        """``value`` where per-sequence lengths are expected, when it is known not to be them: a PackedSequence's
        ``batch_sizes`` or lengths measured on padded rows (a list or tensor of them too); with ``time_len``, the
        padded length T itself (``torch.full((B,), out.size(1))``: every length is T), given the node that passes it.
        None for anything else."""
        if isinstance(value, Many):
            value = value.elem
        if isinstance(value, NotLengths):
            return value
        if time_len is not None and isinstance(value, TimeLen) and value.offset == 0:
            return NotLengths("padded", (self.step(time_len, f"`{self.text(time_len, 30)}`: the padded length"),))
        return None

    def emit_not_lengths(self, value: NotLengths, consumer: str, node: ast.AST) -> None:
        """A per-sequence length consumer (``pack``, ``mask``, ``index``, ``divide``) reads lengths that are not
        per-sequence lengths (PKL101 for ``batch_sizes``, PKL100 for lengths of padded rows)."""
        step = self.step(node, f"used as lengths ({consumer})")
        self.emit(Event("lengths", step.path, step.line, step.col, status=value.kind, subject=self.text(node, 60),
                        callee=consumer, trail=value.trail + (step,), details=(("consumer", consumer),)), node)

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

    # ------------------------------------------------------------------ statements
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

    def run_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value)
            for target in stmt.targets:
                self.assign(target, value, stmt.value)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value), stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            left = self.eval(stmt.target)
            right = self.eval(stmt.value)
            self.assign(stmt.target, self.binop(type(stmt.op), left, right, stmt), stmt.value)
        elif isinstance(stmt, ast.Expr):
            if self.grow_list(stmt.value):
                return
            value = self.eval(stmt.value)
            target = inplace_target(stmt.value)
            if target is not None and not isinstance(value, Unknown):
                self.assign(target, value)  # `x.masked_fill_(~mask, -inf)` changes x itself
        elif isinstance(stmt, ast.Return):
            value = self.eval(stmt.value) if stmt.value is not None else Const(None)
            if stmt.value is not None:
                self.return_stale_states(stmt, value)
            self.frame.ret = join(self.frame.ret, value) if self.frame.ret is not None else value
            self.frame.ended = True
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for local, qual in self.project.bindings_for(self.module, stmt).items():
                self.frame.env[local] = self.project.resolve(qual, self.module)
        elif isinstance(stmt, ast.If):
            self.run_if(stmt)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self.run_loop(stmt)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                v = self.eval(item.context_expr)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, v if isinstance(v, (Instance, ExtObj)) else CLEAN)
            self.run_block(stmt.body)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            before = dict(self.frame.env)
            self.run_block(stmt.body)
            after_body = dict(self.frame.env)
            outs = [] if self.frame.ended else [after_body]
            for handler in stmt.handlers:
                self.frame.ended = False  # an exception can leave the body anywhere, a return included
                self.frame.env = self._join_envs(before, after_body)
                self.run_block(handler.body)
                if not self.frame.ended:
                    outs.append(dict(self.frame.env))
            self.frame.ended = not outs
            if outs:
                merged = outs[0]
                for o in outs[1:]:
                    merged = self._join_envs(merged, o)
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
            self.eval(stmt.subject)
            merged = None
            for case in stmt.cases:
                self.frame.env = dict(before)
                self.run_block(case.body)
                if not self.frame.ended:
                    merged = self.frame.env if merged is None else self._join_envs(merged, self.frame.env)
                self.frame.ended = False
            self.frame.env = self._join_envs(before, merged or before)  # no case may match
        elif isinstance(stmt, (ast.Raise, ast.Assert, ast.Delete)):
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    self.eval(child)
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
        args = [self.eval(a) for a in call.args]
        added = args[-1] if args else CLEAN
        if call.func.attr == "extend":
            added = self.element_of(added)
        items = list(current.items) if isinstance(current, TupleV) else [current.elem]
        self.frame.env[call.func.value.id] = Many(self._join_all([*items, added]))
        return True

    def run_if(self, stmt: ast.If) -> None:
        """Both branches from the same state, joined; a branch that ended (``return``, ``raise``) does not reach
        the code after the ``if``: `if self.pool: return out.mean(1)` then `return out`."""
        verdict = self.truth(stmt.test)
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
            self.frame.env = self._join_envs(then_env, else_env)
            self.frame.ended = then_ended and else_ended

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

    def run_loop(self, stmt: ast.For | ast.AsyncFor | ast.While) -> None:
        """Run the body until the environment at its head stops changing (a fixpoint of the join), so a value
        carried through any number of loop variables (`c = b; b = a; a = out`) reaches every use.

        Facts only climb the lattice and its height is small, so a loop settles in a few passes; the bound
        (``loop_bound``) only catches pathological growth (a list nested one level deeper on every pass). When it
        is hit, the last join stands (an under-approximation of what further passes would add) and the hit is
        counted for ``--statistics``. Events of the passes before the last are dropped: the last pass starts from
        the fixpoint, so its events are the complete, final ones."""
        entry = dict(self.frame.env)
        is_for = not isinstance(stmt, ast.While)
        if is_for:
            elem = self.element_of(self.eval(stmt.iter))
        else:
            self.eval(stmt.test)
        bound = loop_bound(self.frame.loop_depth)
        mark = len(self.frame.events)
        self.frame.loop_depth += 1
        try:
            for _ in range(bound):
                del self.frame.events[mark:]
                self.frame.env = dict(entry)
                if is_for:
                    self.assign(stmt.target, elem, stmt.iter)
                self.run_block(stmt.body)
                if self.frame.ended:  # a return in the body: nothing of this pass comes back to the head
                    self.frame.ended = False
                    self.frame.env = entry
                if not is_for:
                    self.eval(stmt.test)
                after = self._join_envs(entry, self.frame.env)
                if same_facts(after, entry):
                    break
                entry = after
            else:
                self.project.note_loop_bound(self.module.path)
        finally:
            self.frame.loop_depth -= 1
        self.frame.env = entry  # the body may run zero times: the head's join covers both
        self.run_block(stmt.orelse)

    def _join_envs(self, a: dict[str, Value], b: dict[str, Value]) -> dict[str, Value]:
        """Two paths' variables joined. Most variables are the very same object on both paths (set before the
        branch): those are kept as they are, without a join."""
        out = dict(a)
        for k, v in b.items():
            old = a.get(k)
            if old is v:
                continue
            out[k] = v if old is None else join(old, v)
        return out

    # ------------------------------------------------------------------ binding
    def assign(self, target: ast.expr, value: Value, value_node: ast.AST | None = None) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, Padded):
                value = value.with_trail(self.step(target, f"`{target.id}`"))
            self.frame.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.unpack(value, len(target.elts))
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

    def unpack(self, value: Value, n: int) -> list[Value]:
        if isinstance(value, TupleV):
            items = list(value.items)
            if len(items) == n:
                return items
            if len(items) > n:
                return items[: n - 1] + [Many(join(None, items[n - 1]))]
            return items + [CLEAN] * (n - len(items))
        if isinstance(value, Many):
            return [value.elem] * n
        if isinstance(value, Padded):
            return [value] * n  # unpacking a padded tensor along its first axis (e.g. chunk results)
        if isinstance(value, ShapeOf) and value.axes is not None and len(value.axes) == n:
            return [size_of_axis(a) for a in value.axes]  # b, t, _ = x.shape
        return [CLEAN] * n

    def _index_nodes(self, node: ast.Subscript) -> list[ast.expr]:
        sl = node.slice
        return list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]

    def assign_subscript(self, target: ast.Subscript, value: Value) -> None:
        """``y[~mask] = -100`` pads targets with a known value; ``mask[i, :l] = 1`` builds a length mask."""
        if not isinstance(target.value, ast.Name):
            self.eval(target.value)
            return
        name = target.value.id
        base = self.lookup(name)
        indices = [self.eval_index(el) for el in self._index_nodes(target)]
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
            self.frame.env[name] = PaddedTarget(trail=(self.step(target, f"`{name}` padded row by row"),),
                                                pad=pad, axes=(BATCH, TIME))
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

    def return_stale_states(self, stmt: ast.Return, value: Value) -> None:
        """A function returning the final state of an RNN it ran itself (an encoder returning ``h_n``) uses it as
        the sequence's encoding; a helper returning a state it was given only passes it on."""
        func = self.frame.func
        if func is None:
            return
        first, last = func.node.lineno, getattr(func.node, "end_lineno", func.node.lineno)
        own = [s for s in self.stale_states(value) if s.rnn is not None and s.rnn.path == self.module.path and
               first <= s.rnn.line <= last]
        if own:
            self.use_stale_states(CallSite(stmt, own, {}, []), "returned as the encoding", own)

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

    # ------------------------------------------------------------------ expressions
    def eval(self, node: ast.expr | None) -> Value:
        if node is None:
            return Const(None)
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.eval(child)
            return CLEAN
        return method(node)

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
        return Many(self._join_all(self.eval(e) for e in node.elts))

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

    def _join_all(self, values: Iterable[Value]) -> Value:
        out: Value | None = None
        for v in values:
            out = join(out, v) if out is not None else v
        return out if out is not None else CLEAN

    def _comprehension(self, node, elt_nodes: list[ast.expr]) -> list[Value]:
        saved = dict(self.frame.env)
        for gen in node.generators:
            elem = self.element_of(self.eval(gen.iter))
            self.assign(gen.target, elem)
            for cond in gen.ifs:
                self.eval(cond)
        out = [self.eval(e) for e in elt_nodes]
        self.frame.env = saved
        return out

    def eval_ListComp(self, node: ast.ListComp) -> Value:
        return Many(self._comprehension(node, [node.elt])[0])

    eval_GeneratorExp = eval_ListComp
    eval_SetComp = eval_ListComp

    def eval_DictComp(self, node: ast.DictComp) -> Value:
        self._comprehension(node, [node.key, node.value])
        return CLEAN

    def element_of(self, value: Value) -> Value:
        """What iterating ``value`` yields."""
        if isinstance(value, Loader):
            return value.element
        if isinstance(value, Many):
            return value.elem
        if isinstance(value, TupleV):
            return self._join_all(value.items)
        if isinstance(value, Padded):
            axes = value.axes[1:] if value.axes else None
            return replace(value, axes=axes)
        if isinstance(value, Lengths):
            return Item(value.origin, of=value)  # each element is one sequence's length
        if isinstance(value, PaddedTarget):
            return PaddedRow(value.trail)  # a row of a padded batch: its length is T
        if isinstance(value, PaddedRow):
            return CLEAN
        if isinstance(value, Unknown):
            return Unknown(key_of(value))
        if isinstance(value, DictV):
            return CLEAN
        return CLEAN

    def eval_Attribute(self, node: ast.Attribute) -> Value:
        base_node = node.value
        if isinstance(base_node, ast.Name):
            local = f"{base_node.id}.{node.attr}"
            if local in self.frame.env:
                return self.frame.env[local]
        base = self.eval(base_node)
        return self.attribute(base, node.attr, node)

    def attribute(self, base: Value, attr: str, node: ast.AST | None = None) -> Value:
        if isinstance(base, Ext):
            return self.project.resolve(f"{base.qualname}.{attr}", self.module)
        if isinstance(base, Instance):
            return self.project.instance_attr(base, attr)
        if isinstance(base, Super):
            fid = self.project.lookup_method(base.class_id, attr, skip_self=True)
            return BoundMethod(fid, base.self_value) if fid else CLEAN
        if isinstance(base, ClassRef):
            fid = self.project.lookup_method(base.class_id, attr)
            return FuncRef(fid) if fid else self.project.class_attr(base.class_id, attr)
        if isinstance(base, Packed):
            if attr == "data":
                return Dropped(MaskRef("packed", base.lengths), base.trail)
            if attr == "batch_sizes":
                return self.batch_sizes_of(base, node)
            return CLEAN
        if isinstance(base, NotLengths):
            return base if attr in ("data", "T") else CLEAN
        if isinstance(base, Padded):
            if attr == "T":
                return self.tensor_method(base, "t", [], {}, node)
            if attr == "shape":
                return ShapeOf(base.axes)
            if attr == "ndim" and base.axes is not None:
                return Const(len(base.axes))  # a rank query decided from the known axes
            if attr in ("device", "dtype", "is_cuda", "ndim"):
                return CLEAN
            return base
        if isinstance(base, TupleV):
            if attr in ("values", "output", "last_hidden_state", "logits") and base.items:
                return base.items[0]
            if attr == "indices" and len(base.items) > 1:
                return base.items[1]
            return CLEAN
        if isinstance(base, DictV):
            v = base.get(attr)
            return v if v is not None else CLEAN
        if isinstance(base, (Mask, Lengths, Unknown, Arange, PaddedTarget, Fresh, LossFn)):
            if attr in ("shape", "device", "dtype"):
                return CLEAN
            if isinstance(base, Unknown):
                key = f"{base.key}.{attr}" if base.key else None
                return Unknown(key)
            return base
        return CLEAN

    def batch_sizes_of(self, packed: Packed, node: ast.AST | None) -> NotLengths:
        """``packed.batch_sizes`` / ``packed[1]``: per time step, how many sequences are still running."""
        what = self.text(node, 40) if node is not None else "batch_sizes"
        step = self.step(node, f"`{what}`") if node is not None else None
        return NotLengths("batch-sizes", (step,) if step else ())

    def eval_Subscript(self, node: ast.Subscript) -> Value:
        base = self.eval(node.value)
        indices = [self.eval_index(el) for el in self._index_nodes(node)]
        return self.subscript(base, indices, node)

    def eval_index(self, sl: ast.expr) -> Value:
        """An index element's value: a :class:`SliceIndex` for ``a:b:c``, :class:`EllipsisIndex` for ``...``."""
        if isinstance(sl, ast.Slice):
            return SliceIndex(*(self.eval(b) if b is not None else None for b in (sl.lower, sl.upper, sl.step)))
        if isinstance(sl, ast.Constant) and sl.value is Ellipsis:
            return EllipsisIndex()
        return self.eval(sl)

    def subscript(self, base: Value, indices: list[Value], node: ast.AST) -> Value:
        if any(isinstance(v, NotLengths) for v in indices):
            for v in indices:
                if isinstance(v, NotLengths) and v.delta is not None and v.delta < 0:
                    self.emit_not_lengths(v, "index", node)  # out[arange(B), x - 1]: one step per sequence
            # the index is still a tensor index (a gather), whatever it holds
            indices = [Unknown(None) if isinstance(v, NotLengths) else v for v in indices]
        single = indices[0] if len(indices) == 1 else None
        if isinstance(base, NotLengths):
            if all(isinstance(v, (SliceIndex, EllipsisIndex)) or (isinstance(v, Const) and v.value is None)
                   for v in indices):
                return base  # batch_sizes[:, None]: still all of them
            if base.kind == "batch-sizes" and isinstance(single, Const) and single.value == 0 and base.delta == 0:
                return AxisSize(BATCH)  # batch_sizes[0]: every sequence runs at step 0, so the batch size
            return CLEAN
        if isinstance(base, PaddedRow):
            return CLEAN
        if isinstance(base, TupleV):
            if isinstance(single, Const) and isinstance(single.value, int):
                try:
                    return base.items[single.value]
                except IndexError:
                    return CLEAN
            if isinstance(single, SliceIndex) and single.literal is not None:
                return TupleV(base.items[single.literal])
            if isinstance(single, (SliceIndex, EllipsisIndex)):
                return base
            return self._join_all(base.items)
        if isinstance(base, DictV):
            if isinstance(single, Const):
                v = base.get(single.value)
                return v if v is not None else CLEAN
            # a key packlint cannot read: any of the values (so a padded one is never lost)
            return self._join_all([v for _, v in base.items] + ([base.rest] if base.rest is not None else []))
        if isinstance(base, BidirGathered):
            if any(isinstance(v, SliceIndex) and v.upper is not None for v in indices):
                self.frame.resolved.add(base.step)  # [:, :H]: one direction's half, which is right
            return CLEAN
        if isinstance(base, ShapeOf):
            if base.axes and isinstance(single, SliceIndex) and single.literal is not None:
                return TupleV(tuple(size_of_axis(a) for a in base.axes[single.literal]))  # b, t = x.shape[:2]
            if base.axes and isinstance(single, Const) and isinstance(single.value, int):
                d = norm_dim(single.value, len(base.axes))
                if d is not None:
                    return size_of_axis(base.axes[d])  # x.shape[1]: a symbolic size naming its axis
            return CLEAN
        if isinstance(base, Many):
            return base.elem if not isinstance(single, (SliceIndex, EllipsisIndex)) else base
        if isinstance(base, StaleState):
            return base  # h_n[-1], h_n[-2:], h_n[-2:].transpose(0, 1)
        if isinstance(base, PaddedInput):
            # a slice keeps the padded batch; one step (`emb[:, t]` in a decoding loop) or one row is not a
            # padded sequence
            return base if all(self._keeps_axis(v) for v in indices) else CLEAN
        if isinstance(base, Loader):
            return base.element
        masks = [v for v in indices if isinstance(v, Mask)]
        if isinstance(base, Padded):
            if masks:
                ref = masks[0].ref
                conflict = ""
                if ref.kind == "lengths" and ref.origin and base.lengths and ref.origin != base.lengths:
                    conflict = (f"the mask is built from `{short_key(ref.origin)}` but the output was unpacked with "
                                f"`{short_key(base.lengths)}`")
                return Dropped(ref, base.trail + (self.step(node, "boolean-indexed"),), conflict)
            if len(indices) == 1 and isinstance(single, Unknown):
                # `out[m]` with an index packlint cannot see into (a helper's mask, batch["mask"]): most often a
                # boolean mask. Reordering (`out[unsort_idx]`) uses a sort permutation, which is tracked as Perm.
                return Dropped(MaskRef("unknown", single.key), base.trail)
            return self.subscript_padded(base, indices, node)
        if isinstance(base, PerStep):
            if masks or any(isinstance(v, Unknown) for v in indices):
                return CLEAN
            return base
        if isinstance(base, PaddedTarget):
            if masks:
                return Dropped(masks[0].ref)
            if any(isinstance(v, SliceIndex) and v.bound is not None for v in indices):
                return CLEAN
            if not all(self._keeps_axis(v) for v in indices):
                # `tgt[:, t]`: still padded targets for a loss, but one step (or one row) is no longer a padded
                # sequence an RNN could run over (a teacher-forcing loop feeds it step by step)
                return replace(base, axes=None, left=False)
            return base
        if isinstance(base, (Mask, MaskBias, Arange)):
            return base
        if isinstance(base, Perm):
            return base
        if isinstance(base, (Unknown, Lengths, Fresh)):
            if masks:
                return Dropped(masks[0].ref)
            if len(indices) == 1 and isinstance(single, Unknown) and isinstance(base, Unknown):
                return Dropped(MaskRef("unknown", single.key))
            if all(isinstance(v, (SliceIndex, EllipsisIndex)) or (isinstance(v, Const) and v.value is None)
                   for v in indices):
                return base
            if key_of(base):  # an element of it: `lengths[i]` stays tied to the lengths it was read from
                return Item(f"{key_of(base)}[{self.text(node.slice, 24) if hasattr(node, 'slice') else ''}]", of=base)
            return Unknown(None)
        if isinstance(base, Packed):
            if isinstance(single, Const) and single.value == 1:
                return self.batch_sizes_of(base, node)  # a PackedSequence is a tuple: [1] is batch_sizes
            return CLEAN
        return CLEAN

    @staticmethod
    def _keeps_axis(index: Value) -> bool:
        """An index element that keeps its axis: a slice, ``...``, or ``None`` (a new axis)."""
        return isinstance(index, (SliceIndex, EllipsisIndex)) or (isinstance(index, Const) and index.value is None)

    def subscript_padded(self, base: Padded, indices: list[Value], node: ast.AST) -> Value:
        """Indexing a padded tensor: slices keep padding, ``[:, -1]`` reads a padded step, a gather is clean."""
        axes = base.axes
        if axes is None:
            if any(isinstance(v, SliceIndex) and v.bound is not None for v in indices):
                return CLEAN
            return base
        if base.mismatch is not None and any(
                not isinstance(v, (SliceIndex, EllipsisIndex)) and not (isinstance(v, Const) and v.value is None)
                for v in indices[:2]):
            self.emit_batch_first(base)  # indexing a batch or a step as if the layout were the packing side's
        out_axes: list[str] = []
        i = 0
        clean = False
        gathered: Value = CLEAN
        halved = False
        for idx in indices:
            if isinstance(idx, EllipsisIndex):
                after = indices[indices.index(idx) + 1:]
                remaining = len([x for x in after if not (isinstance(x, Const) and x.value is None)])
                keep = max(0, len(axes) - i - remaining)
                out_axes.extend(axes[i:i + keep])
                i += keep
                continue
            if isinstance(idx, Const) and idx.value is None:
                out_axes.append(ONE)
                continue
            label = axes[i] if i < len(axes) else FEAT
            i += 1
            if isinstance(idx, SliceIndex):
                if idx.bound is not None and label == TIME:
                    clean = True  # trimmed to a length: out[i, :l]
                if idx.upper is not None and label == FEAT:
                    halved = True  # out[:, :, :H]: one direction of a bidirectional output
                if idx.last_only and label == TIME:  # out[:, -1:, :]
                    self.emit(Event("last-step", *self._loc(node), status="padded", subject=self.text(node),
                                    trail=base.trail, details=(("layout", "".join(axes)),
                                                               ("bidirectional", base.bidirectional),
                                                               ("lengths", self.name_of_lengths(base.lengths)))))
                    clean = True
                out_axes.append(label)
                continue
            if isinstance(idx, TimeLen):
                idx = Const(idx.offset)  # T - 1 is the same step as -1
            if isinstance(idx, Const) and isinstance(idx.value, int):
                if label == TIME:
                    one_row = any(isinstance(v, Const) and isinstance(v.value, int) and axes[k] == BATCH
                                  for k, v in enumerate(indices[:len(axes)]) if k < len(axes))
                    if idx.value == -1 and not one_row:  # out[1, -1] reads one named row: not "the last steps"
                        self.emit(Event("last-step", *self._loc(node), status="padded", subject=self.text(node),
                                        trail=base.trail, details=(("layout", "".join(axes)),
                                                                   ("bidirectional", base.bidirectional),
                                                                   ("lengths", self.name_of_lengths(base.lengths)))))
                        if base.mismatch is not None:
                            self.emit_batch_first(base)
                    clean = True
                    continue
                if label == BATCH and base.mismatch is not None:
                    self.emit_batch_first(base)
                continue  # integer on batch or feature axis drops it
            # a tensor index
            if label == TIME:
                clean = True  # gathered at an index (lengths - 1): one real step per row
                # a later slice (`[..., :H]`) or integer (`[..., 0]` on a (2, H) view) keeps one direction
                if base.bidirectional and at_last_real_step(idx, base.lengths) and not any(
                        (isinstance(v, SliceIndex) and v.upper is not None) or (
                            isinstance(v, Const) and isinstance(v.value, int) and not isinstance(v.value, bool))
                        for v in indices[i:]):
                    gathered = self.bidirectional_gather(base, node)
            else:
                out_axes.append(label)
        out_axes.extend(axes[i:])
        if clean:
            return gathered
        if halved and base.bidirectional:
            return replace(base, axes=tuple(out_axes), bidirectional=False)
        return replace(base, axes=tuple(out_axes))

    def bidirectional_gather(self, base: Padded, node: ast.AST) -> Value:
        """Each sequence's step at ``lengths - 1`` of a bidirectional output: right for the forward half only. The
        finding stands unless the features are then cut to one half (``[:, :H]``)."""
        step = self.step(node, "gathered at lengths - 1")
        self.emit(Event("last-step", step.path, step.line, step.col, status="bidirectional", subject=self.text(node),
                        trail=base.trail, details=(("layout", "".join(base.axes or ())),)))
        return BidirGathered(step)

    def _loc(self, node: ast.AST) -> tuple[str, int, int]:
        line, col = self.pos(node)
        return (self.module.path, line, col)

    def emit_batch_first(self, value: Padded) -> None:
        step = value.mismatch
        assert step is not None
        self.emit(Event("batch-first", step.path, step.line, step.col, status="mismatch", subject=step.what,
                        trail=value.trail))

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
                isinstance(fill.left, ast.List) and len(fill.left.elts) == 1:
            # `row + [PAD] * (max_len - len(row))`: a row padded by hand to the batch's length
            return PaddedRow((self.step(node, f"`{self.text(node, 40)}` pads the row"),))
        return self.binop(type(node.op), left, right, node)

    def sequence_op(self, left: Value, right: Value) -> Value:
        """``a + b`` and ``a * n`` of lists and tuples: the same items, concatenated or repeated. (Other arithmetic on
        a list is a TypeError at run time; the same answer keeps whatever padding the items hold.)"""
        if isinstance(left, TupleV) and isinstance(right, TupleV):
            return TupleV(left.items + right.items)
        items: list[Value] = []
        for side in (left, right):
            if isinstance(side, TupleV):
                items.extend(side.items)
            elif isinstance(side, Many):
                items.append(side.elem)
            elif not isinstance(side, Const):
                items.append(side)  # not a count: whatever it is, it may end up among the items
        return Many(self._join_all(items)) if items else CLEAN

    def binop(self, op: Operator, left: Value, right: Value, node: ast.AST) -> Value:
        if isinstance(left, LossOut) or isinstance(right, LossOut):  # `loss + aux`, `loss / n`: still that loss
            keys = (left.keys if isinstance(left, LossOut) else frozenset()) | (
                right.keys if isinstance(right, LossOut) else frozenset())
            return LossOut(keys)
        if isinstance(left, (Many, TupleV)) or isinstance(right, (Many, TupleV)):
            return self.sequence_op(left, right)
        if op == ast.MatMult:
            return self.matmul(left, right)
        if isinstance(left, NotLengths) or isinstance(right, NotLengths):
            return self.binop_not_lengths(op, left, right, node)
        for a, b in ((left, right), (right, left)):
            if isinstance(a, StaleState) and not is_tainted(b):
                return a  # `h_n[-2] + h_n[-1]`, `h_n * scale`: still the state that read the padding
        if isinstance(left, ZeroedReduce):
            if left.op == "mean" and op == ast.Div and isinstance(right, MaskFrac):
                self.frame.resolved.add(left.step)  # mean / mask.mean() == sum / count
                return CLEAN
            if left.op == "mean" and op == ast.Mult and isinstance(right, Numel):
                self.frame.resolved.add(left.step)  # mean * numel == sum: exact until divided
                return ZeroedReduce("sum", left.step, left.trail)
            if left.op == "sum" and op == ast.Div and isinstance(right, Numel):
                step = left.step
                self.emit(Event("reduce", step.path, step.line, step.col, status="zeroed-mean",
                                subject=self.text(node), callee="sum", trail=left.trail,
                                details=(("numel", True),)))
                return CLEAN
            return left if op in (ast.Mult, ast.Add, ast.Sub) and isinstance(right, Const) else CLEAN
        if isinstance(left, TimeSum) and isinstance(right, TimeLen) and op == ast.Div:
            path, line, col = left.node_pos
            self.emit(Event("pool", path, line, col, status="padded", subject=self.text(node), callee="mean",
                            trail=left.trail, details=(("op", "mean"), ("pad", 0.0), ("zeroed", False),
                                                       ("filled", None), ("nonneg", False), ("layout", ""))))
            return CLEAN
        if isinstance(left, TimeLen) and isinstance(right, Const) and isinstance(right.value, int) and op in (
                ast.Add, ast.Sub):
            return TimeLen(left.offset + (right.value if op == ast.Add else -right.value))
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                a, b = left.value, right.value
                return Const({ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b}
                             .get(op, lambda: None)())
            except Exception:  # noqa: BLE001
                return CLEAN
        # masks: arithmetic that keeps them masks, or turns them into additive biases
        for m, other in ((left, right), (right, left)):
            if op == ast.Mult and isinstance(m, Mask) and m.inverted and isinstance(other, Const) and is_large(
                    other.value):
                return MaskBias(m.ref)  # (1 - mask) * 1e30: subtracted from scores; * -1e9: added
            if isinstance(m, Mask) and isinstance(other, (Const, Mask, Unknown)) and not isinstance(other, Unknown):
                if op in (ast.Sub, ast.Add) and isinstance(other, Const):
                    return MaskBias(m.ref) if (op == ast.Sub and m is left) else replace(m, inverted=not m.inverted)
                if op == ast.Mult and isinstance(other, Const) and is_neg_large(other.value):
                    return MaskBias(m.ref)
                if op in (ast.Mult, ast.BitAnd) and isinstance(other, (Mask, Const)):
                    return m
            if isinstance(m, MaskBias) and op == ast.Mult:
                return m
        if isinstance(left, Const) and isinstance(right, Mask) and op == ast.Sub:
            return replace(right, inverted=not right.inverted)  # 1 - mask: ones at padding
        if op == ast.Mult:
            for a, b in ((left, right), (right, left)):
                if isinstance(a, Mask) and a.inverted and isinstance(b, Const) and is_large(b.value):
                    return MaskBias(a.ref)  # (1 - mask) * -1e9, added; or (1 - mask) * 1e30, subtracted
                if isinstance(a, Unknown) and isinstance(b, Const) and is_large(b.value):
                    # an untraced mask (batch["mask"]) turned into an additive bias: trusted, as masked_fill is
                    return MaskBias(MaskRef("unknown", a.key))
        if op in (ast.Add, ast.Sub):
            if isinstance(left, Const) and isinstance(right, Unknown) and right.key:
                return Unknown(f"{left.value} - {right.key}")  # 1 - mask
        # padded values
        for p, other in ((left, right), (right, left)):
            if isinstance(p, PerStep):
                ref = self.mask_ref_of(other)
                if op == ast.Mult and ref is not None:
                    return replace(p, zeroed=ref)
                return p
        for p, other in ((left, right), (right, left)):
            if isinstance(p, Padded):
                if isinstance(other, Padded) and other is not p and p is right:
                    p, other = left, right  # keep the left operand's layout
                if op == ast.Mult:
                    ref = self.mask_ref_of(other)
                    if ref is not None:
                        if p.pending:
                            self.frame.resolved.update(p.pending)
                        return replace(p, zeroed=ref, pad=0.0 if p.pad is not None else None)
                    return replace(p, pad=None if not isinstance(other, Const) else p.pad)
                if op in (ast.Add, ast.Sub) and isinstance(other, MaskBias):
                    return replace(p, masked=True)
                if op == ast.Sub and isinstance(other, (Unknown, PaddedTarget, Padded)) and other is not p:
                    return replace(p, residual=True, pad=None)
                if op == ast.Div:
                    return p
                return replace(p, pad=None if not (isinstance(other, Const) and other.value == 0) else p.pad)
        if isinstance(left, PaddedTarget) or isinstance(right, PaddedTarget):
            target = left if isinstance(left, PaddedTarget) else right
            other = right if target is left else left
            if op == ast.Mult and isinstance(other, Mask):
                return replace(target, zeroed=other.ref)
            return target
        if isinstance(left, Dropped):
            return left
        if isinstance(right, Dropped):
            return right
        if op == ast.Mult:
            for a, b in ((left, right), (right, left)):
                if isinstance(a, Unknown) and isinstance(b, Mask):
                    return Zeroed(b.ref)  # y * mask: zero at padding
        if isinstance(left, Fresh) or isinstance(right, Fresh):
            return Fresh()
        if isinstance(left, (Unknown, Lengths)) and isinstance(right, Const) and op in (ast.Add, ast.Sub):
            if isinstance(right.value, int) and not isinstance(right.value, bool):  # `lengths - 1`
                shifted = offset(left, right.value if op is ast.Add else -right.value)
                if shifted is not None:
                    return shifted
            if key_of(left):
                return Unknown(f"{key_of(left)} {'+' if op is ast.Add else '-'} {right.value}")
        return CLEAN

    def binop_not_lengths(self, op: Operator, left: Value, right: Value, node: ast.AST) -> Value:
        """Arithmetic with lengths that are not per-sequence lengths: ``x - 1`` keeps them (an offset), a division
        by them is a per-sequence mean divided by the wrong counts."""
        if isinstance(left, NotLengths) and isinstance(right, Const) and isinstance(right.value, int) and \
                not isinstance(right.value, bool) and op in (ast.Add, ast.Sub):
            d = right.value if op is ast.Add else -right.value
            return replace(left, delta=None if left.delta is None else left.delta + d)
        if op == ast.Div and isinstance(right, NotLengths) and not isinstance(left, (Const, NotLengths)):
            self.emit_not_lengths(right, "divide", node)
            return CLEAN
        if isinstance(left, NotLengths) and isinstance(right, Const) and op in (ast.Mult, ast.Div, ast.FloorDiv):
            return CLEAN
        return CLEAN

    def mask_ref_of(self, v: Value) -> MaskRef | None:
        """The mask a multiplication zeroes with: a derived mask, or an unknown tensor given the benefit of doubt."""
        if isinstance(v, Mask):
            return v.ref
        if isinstance(v, Unknown):
            return MaskRef("unknown", v.key)
        return None

    def eval_Compare(self, node: ast.Compare) -> Value:
        left = self.eval(node.left)
        result: Value = CLEAN
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp)
            result = self.compare(type(op), left, right, node)
            left = right
        return result

    def compare(self, op: CmpOp, left: Value, right: Value, node: ast.AST | None = None) -> Value:
        """Masks are recognised by what they compare: a time index with lengths, or tokens with a pad value."""
        if isinstance(right, Arange) and not isinstance(left, Arange):
            left, right, op = right, left, FLIPPED.get(op, op)
        if isinstance(left, Arange) and isinstance(right, NotLengths) and op in (ast.Lt, ast.GtE, ast.LtE, ast.Gt):
            if not (right.kind == "batch-sizes" and left.over == BATCH):  # arange(B) < batch_sizes: time-major
                if node is not None:
                    self.emit_not_lengths(right, "mask", node)
            return Mask(MaskRef("lengths", None), inverted=op in (ast.GtE, ast.Gt))
        if isinstance(left, Arange) and isinstance(right, (Unknown, Lengths)):
            if op in (ast.Lt,):
                return Mask(MaskRef("lengths", key_of(right)))
            if op in (ast.GtE,):
                return Mask(MaskRef("lengths", key_of(right)), inverted=True)
            return CLEAN
        if isinstance(left, Padded) and isinstance(right, Const) and isinstance(left.pad, (int, float)) and \
                right.value == left.pad and op in (ast.Eq, ast.NotEq):
            # `out == 0` on a zero-padded output marks the padded steps (and any exact zeros, which is harmless)
            return Mask(MaskRef("pad", left.lengths, left.pad), inverted=op == ast.Eq)
        if isinstance(left, (Padded, Mask, Const, Arange)) or isinstance(left, PerStep):
            return CLEAN
        if isinstance(left, (Unknown, PaddedTarget, Lengths)):
            pad = right.value if isinstance(right, Const) else None
            key = key_of(left) if not isinstance(left, PaddedTarget) else "target"
            if isinstance(left, PaddedTarget):
                pad = left.pad if pad is None else pad
            ref = MaskRef("pad", key, pad)
            if isinstance(right, (Const, Unknown)) and not isinstance(right, Padded):
                if op in (ast.NotEq, ast.Gt, ast.GtE):
                    return Mask(ref)
                if op == ast.Eq:
                    return Mask(ref, inverted=True)
        return CLEAN
