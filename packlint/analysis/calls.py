"""Calls and members: functions and classes of the tree (analysed in the caller's context through the
project), the API tables' transfer functions (one ``ext_<kind>`` per table kind), external layer objects and
losses, and attribute lookups. Given the callee's and the arguments' values (a :class:`CallSite`); the
expression part evaluates them."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING

from packlint.analysis import api
from packlint.analysis.events import Event
from packlint.analysis.losses import assess_loss
from packlint.analysis.support import CallSite, const_of, is_neg_large, key_of, size_label, swaps_first_two_axes
from packlint.analysis.values import (
    BATCH,
    CLEAN,
    FEAT,
    FLAT,
    NONZERO,
    TIME,
    Arange,
    AxisSize,
    BoundMethod,
    ClassRef,
    CleanData,
    Const,
    DictV,
    Dropped,
    Ext,
    ExtObj,
    Fresh,
    FuncRef,
    Instance,
    Lengths,
    Loader,
    LossFn,
    LossOut,
    Many,
    Mask,
    MaskRef,
    NotLengths,
    Packed,
    Padded,
    PaddedInput,
    PaddedRow,
    PaddedTarget,
    PerStep,
    Ranked,
    SequentialV,
    ShapeOf,
    StaleState,
    StepIndex,
    Super,
    TimeLen,
    Transposed,
    TupleV,
    Unknown,
    Value,
    ZeroClass,
    carries,
    carries_padding,
    is_parameter_key,
    is_tainted,
    join,
    rekey,
    sort_trail,
    word_data,
)
from packlint.diagnostics import TrailStep

if TYPE_CHECKING:
    from packlint.analysis.context import Context
    from packlint.analysis.operations import Operations
    from packlint.analysis.tensors import TensorEffects


class Calls:
    """What a call returns, by what is called; sink events for losses and layers."""

    def __init__(self, ctx: Context, ops: Operations, tensors: TensorEffects):
        self.ctx = ctx
        self.ops = ops
        self.tensors = tensors
        self.project = ctx.project
        self.frame = ctx.frame
        self.module = ctx.module
        self.tables = ctx.tables

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
                return self.ops.batch_sizes_of(base, node)
            return CLEAN
        if isinstance(base, NotLengths):
            return base if attr in ("data", "T") else CLEAN
        if isinstance(base, Padded):
            if attr == "T":
                return self.tensors.tensor_method(base, "t", [], {}, node)
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
                return Unknown(key, order=base.order)
            return base
        return CLEAN

    def call_value(self, callee: Value, call: CallSite, attr_callee: bool) -> Value:
        if isinstance(callee, Ext):
            return self.call_ext(callee.qualname, call)
        if isinstance(callee, FuncRef):
            return self.call_project(callee.func_id, call.pos, call)
        if isinstance(callee, BoundMethod):
            return self.call_project(callee.func_id, [callee.self_value, *call.pos], call)
        if isinstance(callee, ClassRef):
            init = self.project.lookup_method(callee.class_id, "__init__")
            inst = Instance(callee.class_id)
            if init:
                self.call_project(init, [inst, *call.pos], call)
                own = self.project.constructed
                if own is not None:
                    return Instance(callee.class_id, own)  # this construction's own attributes
            return inst
        if isinstance(callee, Instance):
            fid = self.project.lookup_method(callee.class_id, "__call__") or \
                self.project.lookup_method(callee.class_id, "forward")
            if fid:
                return self.call_project(fid, [callee, *call.pos], call)
            return self.opaque_layer(call)
        if isinstance(callee, ExtObj):
            return self.call_extobj(callee.qualname, call, callee.flags)
        if isinstance(callee, SequentialV):
            value = call.pos[0] if call.pos else CLEAN
            for layer in callee.layers:
                value = self.call_value(layer, CallSite(call.node, [value], {}, call.pos_nodes[:1]), attr_callee=True)
                if isinstance(layer, (Unknown, Ext)) and isinstance(value, Padded):
                    value = replace(value, axes=None)  # a module packlint cannot see may move axes (a Transpose)
            return value
        if isinstance(callee, LossFn):
            return self.loss_call(callee.qualname, call, callee)
        if isinstance(callee, Super):
            return callee
        if attr_callee or isinstance(callee, Unknown):
            # a module held in an attribute, a parameter or a local: layers keep the time axis
            if isinstance(callee, Unknown) and is_parameter_key(callee.key) and any(
                    carries_padding(v) for v in (*call.pos, *call.kw.values())):
                self.project.summaries.note_leak()
            return self.opaque_layer(call)
        self.project.note_unresolved(self.module.path, *self.ctx.pos(call.node), self.ctx.text(call.node.func))
        return CLEAN

    def opaque_layer(self, call: CallSite) -> Value:
        """An unknown module attribute applied to a padded value: layers keep the time axis; pad value unknown."""
        first = call.pos[0] if call.pos else None
        self.use_stale_states(call, "passed to a layer")
        if isinstance(first, (PaddedTarget, PaddedInput)):
            return self.as_model_input(first, call)
        if isinstance(first, Padded):
            # a layer works on the last (feature) axis and keeps the others; when time is last (after a
            # transpose(1, 2), as for a Conv1d or a user Transpose module) packlint cannot tell where it goes
            axes = first.axes if not (first.axes and first.axes[-1] == TIME) else None
            return replace(first, pad=None, filled=None, nonneg=False, zeroed=None, axes=axes)
        if isinstance(first, Packed):
            return TupleV((first, CLEAN))
        if isinstance(first, Dropped):
            return first  # a head applied to packed .data keeps its (time-major) order
        if isinstance(first, Transposed):
            return Transposed(None, of=CLEAN)  # an embedding of time-major token ids is time-major too
        return self.same_rows(first)

    @staticmethod
    def same_rows(first: Value | None) -> Value:
        """A layer's output row by row from its input's rows: whatever else is lost, the batch order is kept."""
        order = first.order if first is not None else None
        return Unknown(None, order=order) if order is not None else CLEAN

    def call_project(self, func_id: str, args: list[Value], call: CallSite) -> Value:
        line, col = self.ctx.pos(call.node)
        site = TrailStep(self.module.path, line, col, self.ctx.text(call.node.func, 40))
        ret, events = self.project.analyze_call(func_id, tuple(args), tuple(sorted(call.kw.items())),
                                                depth=self.frame.depth + 1)
        passes_padding = any(is_tainted(v) for v in args) or any(is_tainted(v) for v in call.kw.values())
        for ev in events:
            # A callee that reads padding its caller passed in is reported at the call; one that makes its own
            # padding (an object's forward called through a parameter) is reported where the sink is. A loss is
            # moved only out of a loss helper (one that returns that loss), not out of a training step that
            # computes a loss from its arguments and returns something else.
            # An RNN over an unpacked batch is reported at the RNN, where the packing is missing, whoever passed
            # the batch in.
            # A pack that misreads its data's layout is fixed at the pack, whoever passed the data in.
            # Any of them in a file that is not being linted (pre-commit passed only the caller) is reported at
            # the call, the last place the user sees.
            unseen = ev.path not in self.project.reported_paths
            moves = passes_padding and (unseen or ev.kind != "rnn-padding" and ev.status != "data-layout" and (
                ev.kind not in ("loss", "reduce") or carries(ret, ev.key)))
            if moves:
                moved = ev.relocated(self.module.path, line, col, site, func_id)
                ret = rekey(ret, ev.key, moved.key)
                self.ctx.emit(moved)
            else:
                self.ctx.emit(ev)
        if isinstance(ret, Padded):
            ret = ret.with_trail(TrailStep(site.path, site.line, site.col, f"{site.what} returns it"))
        return ret

    def call_ext(self, qualname: str, call: CallSite) -> Value:
        entry = self.tables.callable(qualname)
        if entry is None:
            if qualname.startswith("torch.nn.") and qualname.rsplit(".", 1)[-1][:1].isupper():
                return ExtObj(qualname)
            self.project.note_unresolved(self.module.path, *self.ctx.pos(call.node), qualname)
            return CLEAN
        handler = getattr(self, "ext_" + entry.kind.replace("-", "_"))
        return handler(entry, call)

    def arg(self, call: CallSite, index: int, name: str) -> Value | None:
        if name in call.kw:
            return call.kw[name]
        if index < len(call.pos):
            return call.pos[index]
        return None

    def ext_source(self, entry: api.Callable, call: CallSite) -> Value:
        if entry.qualname != f"{api.RNN_UTILS}.pad_packed_sequence":
            bf = const_of(call.kw["batch_first"]) if "batch_first" in call.kw else None
            axes = (BATCH, TIME, FEAT) if bf is True else (TIME, BATCH, FEAT) if bf is False else None
            return Padded(trail=(self.ctx.step(call.node, self.ctx.text(call.node.func, 40)),), axes=axes, pad=None)
        return self.unpack_call(call)

    def unpack_call(self, call: CallSite) -> Value:
        packed = self.arg(call, 0, "sequence")
        bf = self.arg(call, 1, "batch_first")
        pad = self.arg(call, 2, "padding_value")
        batch_first = const_of(bf) if bf is not None else False
        axes = (BATCH, TIME, FEAT) if batch_first is True else (TIME, BATCH, FEAT) if batch_first is False else None
        pad_value = const_of(pad) if pad is not None else 0.0
        if pad is not None and not isinstance(pad, Const):
            pad_value = None
        step = self.ctx.step(call.node, "pad_packed_sequence")
        mismatch = None
        asked_batch_first = False
        lengths = None
        if isinstance(packed, Packed):
            lengths = packed.lengths
            if packed.batch_first is not None and isinstance(batch_first, bool) and packed.batch_first != batch_first:
                mismatch = TrailStep(step.path, step.line, step.col,
                                     f"packed with batch_first={packed.batch_first}, unpacked with "
                                     f"batch_first={batch_first}")
                asked_batch_first = batch_first is True
        origin = lengths or f"{self.module.path}:{step.line}"
        pad = float(pad_value) if isinstance(pad_value, (int, float)) else pad_value
        order = packed.order if isinstance(packed, Packed) else None  # enforce_sorted=False unsorts by itself
        value = Padded(trail=(step,), axes=axes, pad=pad,
                       mismatch=mismatch, asked_batch_first=asked_batch_first, lengths=lengths,
                       bidirectional=isinstance(packed, Packed) and packed.bidirectional, order=order)
        return TupleV((value, Lengths(origin, order=order)))

    def ext_pack(self, entry: api.Callable, call: CallSite) -> Value:
        lengths = self.arg(call, 1, "lengths")
        kw_node = next((k.value for k in call.node.keywords if k.arg == "lengths"), None)
        where = kw_node or (call.pos_nodes[1] if len(call.pos_nodes) > 1 else call.node)
        wrong = self.ctx.wrong_lengths(lengths, time_len=where) if lengths is not None else None
        if wrong is not None:
            self.ctx.emit_not_lengths(wrong, "pack", call.node)
        bf = self.arg(call, 2, "batch_first")
        batch_first = const_of(bf) if bf is not None else False
        data = call.pos[0] if call.pos else CLEAN
        # an unknown tensor's value says whether it was transposed (twice is not at all); a tensor packlint tracks
        # otherwise (a padded output packed again) by the transpose written at the call
        transposed = isinstance(data, Transposed) or (isinstance(data, PaddedInput) and data.transposed) or (
            not isinstance(data, (Unknown, PaddedInput)) and bool(call.pos_nodes) and
            swaps_first_two_axes(call.pos_nodes[0]))
        if isinstance(batch_first, bool) and transposed:
            # `pack(x.transpose(0, 1), lengths)`: the data is batch-major and was turned time-major only to pack,
            # so unpacking with batch_first=True restores the caller's layout on purpose
            batch_first = not batch_first
        self.check_data_layout(data, batch_first, transposed, call)
        if lengths is not None:
            self.check_batch_order(data, lengths, call, "packed with the lengths")
        return Packed(trail=(), batch_first=batch_first if isinstance(batch_first, bool) else None,
                      lengths=key_of(lengths) if lengths is not None else None,
                      pack_step=self.ctx.step(call.node, "pack_padded_sequence"), order=data.order)

    def check_batch_order(self, first: Value, second: Value, call: CallSite, meeting: str) -> None:
        """Two batch-aligned values meet (a loss's output and target, data and its lengths, a ``zip``) in orders
        packlint knows and that differ: one was reordered by a sort and never put back (PKL102). The order of each
        is the word of permutations applied since the function was given the batch (``values.Value.order``)."""
        a, b = first.order, second.order
        if a is None or b is None or a == b:
            return
        trail = sort_trail((*a, *b))
        first_text = self.ctx.text(call.pos_nodes[0], 40) if call.pos_nodes else "the output"
        second_text = self.ctx.text(call.pos_nodes[1], 40) if len(call.pos_nodes) > 1 else "the other side"
        line, col = self.ctx.pos(call.node)
        self.ctx.emit(Event("batch-order", self.module.path, line, col, status="unsorted",
                            subject=self.ctx.text(call.node, 60), callee=meeting, trail=trail,
                            details=(("first", first_text), ("first_order", word_data(a)), ("second", second_text),
                                     ("second_order", word_data(b)))), call.node)

    def check_data_layout(self, data: Value, batch_first: object, transposed: bool, call: CallSite) -> None:
        """Data known to be batch-major (``pad_sequence(..., batch_first=True)``, through an embedding) packed as
        time-major (``batch_first`` left False) with ``enforce_sorted=False``: no error is raised (with sorting
        enforced, the length check raises), every sequence is cut across the batch. An RNN's own
        ``batch_first=True`` says nothing about the data, so only the data's own layout counts."""
        layout = data.axes if isinstance(data, (PaddedInput, PaddedTarget)) else None
        unsorted = self.arg(call, 3, "enforce_sorted")
        if not layout or layout[0] != BATCH or batch_first is not False or transposed:
            return
        if unsorted is None or const_of(unsorted) is not False:
            return
        line, col = self.ctx.pos(call.node)
        made = data.trail[0] if data.trail else None
        self.ctx.emit(Event("batch-first", self.module.path, line, col, status="data-layout",
                        subject=self.ctx.text(call.node, 60), trail=data.trail,
                        details=(("made", f"{made.what}, line {made.line}" if made else "batch-major data"),)),
                  call.node)

    def ext_target_source(self, entry: api.Callable, call: CallSite) -> Value:
        """``pad_sequence``: a padded batch, targets or inputs as its use decides (a loss target, or an embedding
        or RNN input). Time-major unless ``batch_first=True``; ``padding_side="left"`` pads before the real steps."""
        pad = self.arg(call, 2, "padding_value")
        pad_value = const_of(pad) if pad is not None else 0
        if pad is not None and not isinstance(pad, Const):
            pad_value = None
        bf = self.arg(call, 1, "batch_first")
        batch_first = const_of(bf) if bf is not None else False
        axes = (BATCH, TIME) if batch_first is True else (TIME, BATCH) if batch_first is False else None
        side = call.kw.get("padding_side")
        step = self.ctx.step(call.node, f"pad_sequence(padding_value={pad_value})")
        return PaddedTarget(trail=(step,), pad=pad_value, axes=axes,
                            left=side is not None and const_of(side) == "left")

    def as_model_input(self, batch: Value, call: CallSite) -> PaddedInput:
        """A padded batch through an embedding or another layer: a model input from here on."""
        if isinstance(batch, PaddedInput):
            return batch
        assert isinstance(batch, PaddedTarget)
        axes = batch.axes[:2] + (FEAT,) if batch.axes else None
        step = self.ctx.step(call.node, f"{self.ctx.text(call.node.func, 30)} input")
        return PaddedInput(trail=batch.trail + (step,), axes=axes, left=batch.left)

    def stale_states(self, value: Value) -> list[StaleState]:
        if isinstance(value, StaleState):
            return [value]
        if isinstance(value, TupleV):
            return [s for v in value.items for s in self.stale_states(v)]
        if isinstance(value, DictV):
            return [s for _, v in value.items for s in self.stale_states(v)]
        if isinstance(value, Many):
            return self.stale_states(value.elem)
        return []

    def use_stale_states(self, call: CallSite, how: str, values: list[Value] | None = None) -> None:
        """A final state that has read padding, used as a summary: PKL008 at the RNN call that made it."""
        for v in values if values is not None else [*call.pos, *call.kw.values()]:
            for state in self.stale_states(v):
                what = self.ctx.text(getattr(call.node, "func", call.node), 40)
                self.emit_rnn_padding(state, "state", how, self.ctx.step(call.node, what))

    def emit_rnn_padding(self, state: StaleState, status: str, how: str, use: TrailStep | None) -> None:
        rnn = state.rnn
        if rnn is None:
            return
        trail = state.trail + ((TrailStep(use.path, use.line, use.col, f"{use.what}: {how}"),) if use else ())
        self.ctx.emit(Event("rnn-padding", rnn.path, rnn.line, rnn.col, status=status, subject=rnn.what,
                        callee=rnn.what, reason=how, trail=trail,
                        details=(("left", state.left), ("use", how))))

    def recurrent_over_padding(self, qualname: str, call: CallSite, flags: tuple[str, ...], first: Value) -> Value:
        """An RNN run over a padded batch without packing: the output is padded, and ``h_n``/``c_n`` have read the
        padding (a :class:`StaleState`); a bidirectional RNN's backward half and a left-padded batch's every step
        have read it too, so those are reported at once."""
        name = self.ctx.text(call.node.func, 40)
        step = self.ctx.step(call.node, name)
        left = isinstance(first, (PaddedTarget, PaddedInput)) and first.left
        trail = first.trail + (TrailStep(step.path, step.line, step.col, f"{name} runs over it unpacked"),)
        bidirectional = "bidirectional" in flags
        if isinstance(first, Padded):
            out = replace(first, pad=None, filled=None, zeroed=None, nonneg=False, trail=trail,
                          bidirectional=first.bidirectional or bidirectional)
        else:
            # over left padding the last column is each sequence's real end: the output's positions are not
            # judged (PKL003 would misread them); this finding says what is wrong with every one of them
            axes = first.axes[:2] + (FEAT,) if first.axes and not left else None
            out = Padded(trail=trail, axes=axes, pad=None, bidirectional=bidirectional)
        state = StaleState(rnn=step, trail=trail, left=left)
        if bidirectional and not left and self.forward_half_only(call):
            bidirectional = False  # `out[..., :H]` is all that is read of it: the forward direction, which is right
        if bidirectional or left:
            self.emit_rnn_padding(state, "bidirectional" if bidirectional else "left", "", None)
        hidden: Value = TupleV((state, state)) if qualname.endswith("LSTM") else state
        return TupleV((out, hidden))

    def forward_half_only(self, call: CallSite) -> bool:
        """``out, h = rnn(x)`` where every read of ``out`` cuts its features to the first half (``out[..., :H]``,
        ``out[:, :, :self.hidden]``) and ``h`` is never read: only the forward direction is used."""
        func = self.frame.func
        if func is None:
            return False
        assign = next((n for n in ast.walk(func.node) if isinstance(n, ast.Assign) and n.value is call.node), None)
        if assign is None or len(assign.targets) != 1 or not isinstance(assign.targets[0], ast.Tuple):
            return False
        names = assign.targets[0].elts
        if len(names) != 2 or not isinstance(names[0], ast.Name):
            return False
        out, state = names[0].id, names[1]
        if isinstance(state, ast.Name) and state.id != "_" and state.id in self.project.loaded_names(func):
            return False
        reads = [n for n in ast.walk(func.node) if isinstance(n, ast.Name) and n.id == out and
                 isinstance(n.ctx, ast.Load)]
        halves = [n for n in ast.walk(func.node) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
                  and n.value.id == out and _first_half(n.slice)]
        return bool(reads) and len(reads) == len(halves)

    def ext_loss(self, entry: api.Callable, call: CallSite) -> Value:
        return self.loss_call(entry.qualname, call, None)

    def ext_loss_class(self, entry: api.Callable, call: CallSite) -> Value:
        ii = call.kw.get("ignore_index")
        red = call.kw.get("reduction")
        return LossFn(entry.qualname, ignore_index=ii if ii is not None else None,
                      reduction=str(const_of(red)) if red is not None and isinstance(const_of(red), str) else "mean",
                      created=self.ctx.step(call.node, entry.qualname.rsplit(".", 1)[-1]), weight=call.kw.get("weight"))

    ext_metric = ext_loss
    ext_metric_class = ext_loss_class

    def ext_masked_loss(self, entry: api.Callable, call: CallSite) -> Value:
        return self.length_aware_loss(entry.qualname, call)

    def ext_masked_loss_class(self, entry: api.Callable, call: CallSite) -> Value:
        return LossFn(entry.qualname)

    def crf_call(self, call: CallSite, qualname: str) -> Value:
        """A CRF layer's log-likelihood: it scores every step unless given ``mask=``."""
        emissions = call.pos[0] if call.pos else CLEAN
        if isinstance(emissions, Padded) and "mask" not in call.kw and len(call.pos) < 3:
            line, col = self.ctx.pos(call.node)
            self.ctx.emit(Event("loss", self.module.path, line, col, status="padded",
                            subject=self.ctx.text(call.pos_nodes[0]) if call.pos_nodes else "emissions",
                            callee=self.ctx.text(call.node.func, 40),
                            reason="the CRF scores every step, padded ones included, without mask=",
                            trail=emissions.trail), call.node)
            return LossOut(frozenset({self.frame.events[-1].key}))
        return CLEAN

    def check_flattened_layout(self, pred: Value, target: Value, call: CallSite, entry: api.Callable) -> None:
        """PKL004 for a mismatched unpack flattened into a loss, unless the other side was transposed the same way
        (time-major targets on purpose: ``tags.t().contiguous().view(-1)``)."""
        for side, other_value, other_index in ((pred, target, entry.target_arg), (target, pred, entry.pred_arg)):
            if not (isinstance(side, Padded) and side.mismatch is not None and side.axes and side.axes[0] == FLAT):
                continue
            if isinstance(other_value, Transposed):
                continue  # time-major targets from a variable: `tags_tm = tags.t()`, later `tags_tm.reshape(-1)`
            other = call.pos_nodes[other_index] if len(call.pos_nodes) > other_index else None
            if other is not None and any(swaps_first_two_axes(n) for n in ast.walk(other)):
                continue
            self.ctx.emit_batch_first(side, against_data=True)

    def length_aware_loss(self, qualname: str, call: CallSite) -> Value:
        """CTC reads only the first input_lengths[b] frames, unless it is told every sequence is T long."""
        input_lengths = self.arg(call, 2, "input_lengths")
        if isinstance(input_lengths, TimeLen):
            line, col = self.ctx.pos(call.node)
            log_probs = call.pos[0] if call.pos else CLEAN
            self.ctx.emit(Event("loss", self.module.path, line, col, status="padded",
                            subject=self.ctx.text(call.pos_nodes[0]) if call.pos_nodes else "log_probs",
                            callee=self.ctx.text(call.node.func, 40),
                            reason="input_lengths is the padded length T for every sequence, so the padded frames "
                                   "are scored", trail=log_probs.trail if isinstance(log_probs, Padded) else ()),
                      call.node)
            return LossOut(frozenset({self.frame.events[-1].key}))
        return CLEAN

    def ext_mask_builder(self, entry: api.Callable, call: CallSite) -> Value:
        first = call.pos[0] if call.pos else None
        return Mask(MaskRef("lengths", key_of(first) if first is not None else None))

    def ext_propagate(self, entry: api.Callable, call: CallSite) -> Value:
        if not call.pos:
            return CLEAN
        first = call.pos[0]
        name = entry.qualname.rsplit(".", 1)[-1]
        return self.method_call(first, name, CallSite(call.node, call.pos[1:], call.kw, call.pos_nodes[1:]))

    def ext_sequential(self, entry: api.Callable, call: CallSite) -> Value:
        layers = call.pos[0].items if len(call.pos) == 1 and isinstance(call.pos[0], TupleV) else tuple(call.pos)
        if not layers or any(isinstance(v, (Many, DictV)) for v in layers):
            return ExtObj(entry.qualname)
        return SequentialV(tuple(layers))

    def ext_layer(self, entry: api.Callable, call: CallSite) -> Value:
        flags = tuple(sorted(k for k in ("bidirectional", "batch_first") if const_of(call.kw.get(k, CLEAN)) is True))
        if const_of(call.kw.get("bias", CLEAN)) is False:
            flags += ("nobias",)
        dim = const_of(call.kw.get("dim", call.pos[0] if call.pos else CLEAN))
        if entry.kind == "softmax-layer" and isinstance(dim, int):
            flags += (f"dim={dim}",)
        return ExtObj(entry.qualname, flags)

    ext_biased_layer = ext_layer
    ext_crf = ext_layer
    ext_recurrent = ext_layer
    ext_softmax_layer = ext_layer

    def ext_arange(self, entry: api.Callable, call: CallSite) -> Value:
        end = call.pos[1] if len(call.pos) > 1 else call.pos[0] if call.pos else call.kw.get("end", CLEAN)
        return Arange(over=end.axis if isinstance(end, AxisSize) else None)  # arange(B): a batch index

    def ext_where(self, entry: api.Callable, call: CallSite) -> Value:
        cond, a, b = (call.pos + [CLEAN, CLEAN, CLEAN])[:3]
        ref = cond.ref if isinstance(cond, Mask) else self.ctx.mask_ref_of(cond)
        for v in (a, b):
            if isinstance(v, PerStep):
                return replace(v, zeroed=ref) if ref is not None else v
            if isinstance(v, Padded):
                other = b if v is a else a
                fill = const_of(other)
                if ref is not None:
                    return replace(v, zeroed=ref if fill == 0 else None, filled=fill, masked=is_neg_large(fill))
                return v
        return join(a, b)

    def ext_masked_select(self, entry: api.Callable, call: CallSite) -> Value:
        if len(call.pos) >= 2:
            return self.method_call(call.pos[0], "masked_select", CallSite(call.node, call.pos[1:], call.kw, []))
        return CLEAN

    def ext_concat(self, entry: api.Callable, call: CallSite) -> Value:
        parts = call.pos[0] if call.pos else CLEAN
        if isinstance(parts, TupleV):
            joined = self.ops.join_all(parts.items)
        elif isinstance(parts, Many):
            joined = parts.elem
        else:
            return CLEAN
        if isinstance(joined, (Fresh, CleanData)):
            # fresh pieces glued together row by row, their sizes read from lengths (`new_ones(1, l).zero_()` then
            # `new_ones(1, T - l)`): a mask built piece by piece, which packlint cannot read; unknown, as a mask is
            return CLEAN
        if isinstance(joined, Padded) and joined.stepped:
            return self.restacked(joined, entry, call)
        return joined

    def restacked(self, step: Padded, entry: api.Callable, call: CallSite) -> Value:
        """Steps of a padded tensor taken one at a time (`out[:, t]`), or what was computed from each, put back
        together: ``stack(steps, dim=d)`` makes axis d time again, ``cat(steps, dim=d)`` of (B, 1) pieces too."""
        dim = const_of(call.kw.get("dim", call.pos[1] if len(call.pos) > 1 else Const(0)))
        axes = list(step.axes) if step.axes is not None else None
        if axes is None or not isinstance(dim, int):
            return replace(step, axes=None, stepped=False)
        if entry.qualname.endswith("stack"):
            at = dim if dim >= 0 else len(axes) + 1 + dim
            if not 0 <= at <= len(axes):
                return replace(step, axes=None, stepped=False)
            axes.insert(at, TIME)
        else:
            at = dim if dim >= 0 else len(axes) + dim
            if not 0 <= at < len(axes) or axes[at] == BATCH:
                return replace(step, axes=None, stepped=False)
            axes[at] = TIME
        return replace(step, axes=tuple(axes), stepped=False)

    def ext_matmul(self, entry: api.Callable, call: CallSite) -> Value:
        if len(call.pos) < 2:
            return CLEAN
        return self.ops.matmul(call.pos[0], call.pos[1])

    def ext_einsum(self, entry: api.Callable, call: CallSite) -> Value:
        for v in call.pos[1:]:
            if isinstance(v, Padded):
                return replace(v, axes=None, pad=None)
        return CLEAN

    def ext_softmax(self, entry: api.Callable, call: CallSite) -> Value:
        if not call.pos:
            return CLEAN
        return self.method_call(call.pos[0], "softmax", CallSite(call.node, call.pos[1:], call.kw, []))

    def ext_reduce(self, entry: api.Callable, call: CallSite) -> Value:
        if not call.pos:
            return CLEAN
        name = entry.qualname.rsplit(".", 1)[-1]
        return self.method_call(call.pos[0], name, CallSite(call.node, call.pos[1:], call.kw, []))

    def ext_pool1d(self, entry: api.Callable, call: CallSite) -> Value:
        v = call.pos[0] if call.pos else CLEAN
        if "adaptive" in entry.qualname and const_of(self.arg(call, 1, "output_size") or CLEAN) != 1:
            return CLEAN
        if isinstance(v, Padded) and v.axes and v.axes[-1] == TIME:  # pool1d pools the last axis
            op = "max" if "max" in entry.qualname else "mean"
            self.tensors.pool(v, op, len(v.axes) - 1, call, func=entry.qualname.rsplit(".", 1)[-1])
        return CLEAN

    def ext_loader(self, entry: api.Callable, call: CallSite) -> Value:
        collate = call.kw.get("collate_fn")
        if collate is None:
            return Loader(self.default_collate(call))
        element = self.call_value(collate, CallSite(call.node, [Many(CLEAN)], {}, []), attr_callee=False)
        return Loader(element)

    def default_collate(self, call: CallSite) -> Value:
        """A loader without ``collate_fn`` stacks what the dataset's ``__getitem__`` returns: rows padded up front
        (``ids + [PAD] * (n - len(ids))``, or rows of a tensor padded in ``__init__``) come out as a padded batch."""
        dataset = call.pos[0] if call.pos else call.kw.get("dataset")
        if not isinstance(dataset, Instance):
            return CLEAN
        getitem = self.project.lookup_method(dataset.class_id, "__getitem__")
        if not getitem:
            return CLEAN
        item = self.call_project(getitem, [dataset, Unknown(None)], CallSite(call.node, [Unknown(None)], {}, []))
        return _stacked(item)

    def ext_builtin(self, entry: api.Callable, call: CallSite) -> Value:
        if entry.qualname == "len" and call.pos and isinstance(call.pos[0], PaddedRow):
            row = call.pos[0]  # len() of a row already padded to the batch's length: T, whatever the sequence
            step = self.ctx.step(call.node, f"{self.ctx.text(call.node, 30)} of a padded row")
            return NotLengths("padded", row.trail + (step,))
        return CLEAN

    def ext_range(self, entry: api.Callable, call: CallSite) -> Value:
        return Many(StepIndex())  # `for t in range(T)`: each position in turn

    def ext_float(self, entry: api.Callable, call: CallSite) -> Value:
        if call.pos and isinstance(call.pos[0], Const):
            try:
                return Const(float(call.pos[0].value))  # float('-inf')
            except (TypeError, ValueError):
                return CLEAN
        return CLEAN

    def ext_keep_key(self, entry: api.Callable, call: CallSite) -> Value:
        if call.pos and isinstance(call.pos[0], (Unknown, Lengths)):
            return Unknown(key_of(call.pos[0]))  # int(lengths.max()): still about those lengths
        return CLEAN

    def ext_same(self, entry: api.Callable, call: CallSite) -> Value:
        if call.pos and isinstance(call.pos[0], Many) and isinstance(call.pos[0].elem, NotLengths) and \
                entry.qualname.startswith("torch."):
            return call.pos[0].elem  # torch.tensor([len(r) for r in rows]): a tensor of those lengths
        if call.pos and isinstance(call.pos[0], Many) and isinstance(call.pos[0].elem, PaddedRow) and \
                entry.qualname.startswith("torch."):
            # torch.tensor([ids + [PAD] * (n - len(ids)) for ...]): a batch padded by hand, batch-major; what it
            # is (model input or target) is decided where it is used, as for pad_sequence
            row = call.pos[0].elem
            step = self.ctx.step(call.node, f"`{self.ctx.text(call.node.func, 30)}` of padded rows")
            return PaddedTarget(trail=row.trail + (step,), pad=row.pad, axes=(BATCH, TIME))
        return call.pos[0] if call.pos else CLEAN

    def ext_finfo(self, entry: api.Callable, call: CallSite) -> Value:
        return DictV((("min", Const(-3.4e38)), ("max", Const(3.4e38)), ("eps", Const(1.2e-7))))

    def ext_sort(self, entry: api.Callable, call: CallSite) -> Value:
        name = entry.qualname.rsplit(".", 1)[-1]
        rest = CallSite(call.node, call.pos[1:], call.kw, [])
        return self.method_call(call.pos[0] if call.pos else CLEAN, name, rest)

    def ext_fresh(self, entry: api.Callable, call: CallSite) -> Value:
        if entry.qualname.endswith(("full_like", ".full")):
            fill = self.arg(call, 1, "fill_value")
            if isinstance(fill, (Const, TimeLen)):
                return fill  # a tensor full of v acts like v in where() and masked_fill(); full of T is "T each"
            return Fresh()
        if entry.qualname.endswith("_like"):
            return Fresh()
        return self.fresh_of_sizes(call)

    def fresh_of_sizes(self, call: CallSite) -> Value:
        """``torch.randn(H)``, ``torch.zeros(1, H)``, ``torch.empty((n, H))``: a new tensor whose rank is the
        number of sizes given (each an int, a size or an unknown scalar); rank unknown for a starred or empty call."""
        sizes = call.pos
        if len(sizes) == 1 and isinstance(sizes[0], TupleV):
            sizes = list(sizes[0].items)
        if not sizes or any(isinstance(s, (Many, TupleV, ShapeOf)) for s in sizes):
            return Fresh()
        labels = tuple(size_label(s) for s in sizes)
        return Ranked(rank=len(sizes), axes=labels if all(labels) else None)  # type: ignore[arg-type]

    def ext_parameter(self, entry: api.Callable, call: CallSite) -> Value:
        """``nn.Parameter(t)`` is the tensor ``t`` when packlint made it (its rank known); otherwise an object."""
        data = self.arg(call, 0, "data")
        return data if isinstance(data, Fresh) else ExtObj(entry.qualname)

    def ext_super(self, entry: api.Callable, call: CallSite) -> Value:
        f = self.frame.func
        if f is None or f.class_id is None:
            return CLEAN
        selfv = self.frame.env.get(f.self_name or "self", Instance(f.class_id))
        return Super(f.class_id, selfv)

    def ext_enumerate(self, entry: api.Callable, call: CallSite) -> Value:
        src = call.pos[0] if call.pos else CLEAN
        return Many(TupleV((CLEAN, self.ops.element_of(src))))

    def ext_zip(self, entry: api.Callable, call: CallSite) -> Value:
        if len(call.pos) == 2:
            self.check_batch_order(call.pos[0], call.pos[1], call, "zipped with")
        return Many(TupleV(tuple(self.ops.element_of(v) for v in call.pos)))

    def ext_element(self, entry: api.Callable, call: CallSite) -> Value:
        return self.ops.element_of(call.pos[0]) if call.pos else CLEAN

    def ext_getattr(self, entry: api.Callable, call: CallSite) -> Value:
        if len(call.pos) >= 2 and isinstance(call.pos[1], Const) and isinstance(call.pos[1].value, str):
            return self.attribute(call.pos[0], call.pos[1].value)
        return CLEAN

    def call_extobj(self, qualname: str, call: CallSite, flags: tuple[str, ...] = ()) -> Value:
        entry = self.tables.callable(qualname)
        kind = entry.kind if entry else None
        first = call.pos[0] if call.pos else CLEAN
        if isinstance(first, Padded) and first.mismatch is not None and "batch_first" in flags:
            self.ctx.emit_batch_first(first)  # fed to a batch-first layer as if it were batch-major
        if kind == "recurrent":
            self.use_stale_states(call, "given as another RNN's initial state", [*call.pos[1:], *call.kw.values()])
            if isinstance(first, Packed):
                # h_n is in the packed data's order too (PyTorch puts it back only for its own sort)
                state = Unknown(None, order=first.order)
                return TupleV((replace(first, bidirectional="bidirectional" in flags), state))
            if isinstance(first, Padded) or (isinstance(first, (PaddedTarget, PaddedInput)) and first.axes):
                # a padded batch whose layout is unknown may be one step of it (`tgt[:, t]`): not followed
                return self.recurrent_over_padding(qualname, call, flags, first)
            return TupleV((self.same_rows(first), self.same_rows(first)))
        if kind in ("layer", "biased-layer"):
            self.use_stale_states(call, "passed to a layer")
        if kind in ("layer", "biased-layer") and isinstance(first, (PaddedTarget, PaddedInput)):
            return self.as_model_input(first, call)
        if kind in ("layer", "biased-layer") and isinstance(first, Dropped):
            return first  # a head applied to packed .data keeps its (time-major) order
        if kind in ("layer", "biased-layer") and isinstance(first, Transposed):
            return Transposed(None, of=CLEAN)
        if kind in ("layer",) and isinstance(first, Padded):
            if qualname in api.NON_NEGATIVE_LAYERS:
                return self.tensors.tensor_method(first, "relu", [], {}, call.node)
            return first
        if kind == "biased-layer" and isinstance(first, Padded) and first.axes and first.axes[-1] == TIME and \
                qualname in api.MIXES_LAST_AXIS:
            # a Linear over an axis that holds time (`out.view(out.size(0), -1)`) mixes every step into each
            # output feature: no time axis is left
            first = replace(first, axes=first.axes[:-1] + (FEAT,))
        if kind in ("biased-layer",) and isinstance(first, Padded) and "nobias" in flags:
            return replace(first, filled=None, nonneg=False, zeroed=None)  # Linear(bias=False): 0 stays 0
        if kind == "crf":
            return self.crf_call(call, qualname)
        if kind in ("biased-layer",) and isinstance(first, Padded):
            return replace(first, pad=NONZERO if first.pad is not None else None, filled=None, nonneg=False,
                           zeroed=None)
        if kind in ("masked-loss-class",):
            return CLEAN
        if kind == "softmax-layer":
            dims = [f.split("=", 1)[1] for f in flags if f.startswith("dim=")]
            kw = {"dim": Const(int(dims[0]))} if dims else {}
            name = "log_softmax" if qualname.endswith("LogSoftmax") else "softmax"
            return self.method_call(first, name, CallSite(call.node, [], kw, []))
        if kind is None:
            return self.opaque_layer(call)
        if kind in ("layer", "biased-layer"):
            return self.same_rows(first)
        return CLEAN

    def loss_call(self, qualname: str, call: CallSite, obj: LossFn | None) -> Value:
        entry = self.tables.callable(qualname)
        if entry is not None and entry.kind.startswith("masked-loss"):
            return self.length_aware_loss(qualname, call)
        if entry is None:
            return CLEAN
        pred = self.arg(call, entry.pred_arg, "input") or CLEAN
        target = self.arg(call, entry.target_arg, "target") or CLEAN
        self.use_stale_states(call, "scored by a loss", [pred])
        ii_value = call.kw.get("ignore_index") if obj is None else obj.ignore_index
        reduction = const_of(call.kw["reduction"]) if "reduction" in call.kw else (obj.reduction if obj else "mean")
        weight = call.kw.get("weight") if obj is None else obj.weight
        explicit = ii_value is not None
        ii = const_of(ii_value) if explicit else api.DEFAULT_IGNORE_INDEX
        if entry.weight == "class" and isinstance(weight, ZeroClass) and not explicit and len(weight.classes) == 1:
            explicit, ii = True, next(iter(weight.classes))  # weight[PAD] = 0 is ignore_index=PAD
        verdict = assess_loss(pred, target, honours_ignore_index=entry.ignore_index, ignore_explicit=explicit,
                              ignore_index=ii, zero_at_zero=entry.zero_at_zero,
                              element_weights=weight if entry.weight == "element" else None)
        line, col = self.ctx.pos(call.node)
        callee = self.ctx.text(call.node.func, 40)
        subj = self.ctx.text(call.pos_nodes[entry.pred_arg]) if len(call.pos_nodes) > entry.pred_arg else "input"
        self.check_flattened_layout(pred, target, call, entry)
        metric = entry.kind.startswith("metric")  # a finding only where it is trained on (see project._settle)
        if len(call.pos) > max(entry.pred_arg, entry.target_arg):
            self.check_batch_order(pred, target, call, "scored against")
        if verdict.status == "zeroed":
            if reduction == "none":
                return PerStep(trail=verdict.trail, padded=False, zeroed=MaskRef("unknown"))
            if reduction == "mean":  # divides the zeroed terms by every element: PKL007
                self.ctx.emit(Event("reduce", self.module.path, line, col, status="zeroed-mean",
                                    subject=self.ctx.text(call.node, 60), callee="mean", trail=verdict.trail,
                                    details=(("metric", metric),)), call.node)
                return LossOut(frozenset({self.frame.events[-1].key}))
            return CLEAN
        if verdict.status == "mismatch" or (verdict.status == "padded" and reduction != "none"):
            # scores of shape (B, T) against position targets (a pointer, a span start): the time steps are the
            # classes, so padded positions compete with the real ones in the softmax
            steps_are_classes = entry.ignore_index and isinstance(pred, Padded) and pred.axes is not None and \
                len(pred.axes) == 2 and pred.axes[1] == TIME
            # the target's padding value where an ignore_index written at this call could drop it (a fix's fact)
            target_pad = int(target.pad) if entry.ignore_index and obj is None and isinstance(
                target, PaddedTarget) and isinstance(target.pad, (int, float)) and not isinstance(
                target.pad, bool) and float(target.pad).is_integer() else None
            self.ctx.emit(Event("loss", self.module.path, line, col, status=verdict.status, subject=subj, callee=callee,
                            reason=verdict.reason, trail=verdict.trail,
                            details=(("target", self.ctx.text(call.pos_nodes[entry.target_arg]) if len(call.pos_nodes) >
                                      entry.target_arg else "target"), ("steps_are_classes", steps_are_classes),
                                     ("target_pad", target_pad), ("metric", metric))),
                      call.node)
            return LossOut(frozenset({self.frame.events[-1].key}))
        if reduction == "none":
            if verdict.status == "padded":
                return PerStep(trail=verdict.trail + (TrailStep(self.module.path, line, col,
                                                                f"{callee}(reduction='none')"),),
                               padded=True, source=verdict.reason)
            if verdict.status == "ignored":
                return PerStep(trail=(), padded=False, zeroed=MaskRef("pad", None, ii))
        return CLEAN

    def method_call(self, base: Value, name: str, call: CallSite) -> Value:
        """A method called on a value: a loss or layer object's own methods here, a tensor's in the tensor part."""
        if name in api.TRAINS_ON and isinstance(base, LossOut):
            self.frame.trained |= base.keys  # `loss.backward()`: this value is what the model is trained on
        if isinstance(base, LossFn):
            if name in ("to", "cuda", "cpu", "float", "double"):
                return base
            if name == "forward":
                return self.loss_call(base.qualname, call, base)
            return CLEAN
        if isinstance(base, ExtObj):
            if name in ("to", "cuda", "cpu", "float", "double", "train", "eval"):
                return base
            if name == "forward":
                return self.call_extobj(base.qualname, call, base.flags)
            return CLEAN
        return self.tensors.call_method(base, name, call)


def _stacked(item: Value) -> Value:
    """The default collate of one dataset item: rows padded to one length stack into a padded batch (B, T);
    tuples and dicts stack field by field; anything else is not followed."""
    if isinstance(item, TupleV):
        return TupleV(tuple(_stacked(v) for v in item.items))
    if isinstance(item, DictV):
        return DictV(tuple((k, _stacked(v)) for k, v in item.items), None)
    if isinstance(item, PaddedRow):
        return PaddedTarget(trail=item.trail, pad=item.pad, axes=(BATCH, TIME))
    if isinstance(item, PaddedTarget) and item.axes is None:
        return replace(item, axes=(BATCH, TIME))  # `self.x[i]` of ids padded in __init__: rows, stacked again
    return CLEAN


def _first_half(index: ast.expr) -> bool:
    """An index whose last element cuts the features from the start (``[..., :H]``, ``[:, :, :self.hidden]``)."""
    last = index.elts[-1] if isinstance(index, ast.Tuple) and index.elts else index
    return isinstance(last, ast.Slice) and last.lower is None and last.upper is not None and last.step is None and \
        isinstance(index, ast.Tuple) and len(index.elts) >= 2

