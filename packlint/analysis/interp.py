"""The abstract interpreter: one class assembled from its parts.

``flow.py`` moves values through statements and expressions, ``calls.py`` decides what a call returns (and
records sink events), ``tensors.py`` what a tensor method does. Each part is a mixin over the same frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packlint.analysis.calls import CallsMixin
from packlint.analysis.flow import FlowMixin
from packlint.analysis.support import MAX_DEPTH, CallSite, Frame
from packlint.analysis.tensors import TensorsMixin

if TYPE_CHECKING:
    from packlint.analysis.project import Project

__all__ = ["MAX_DEPTH", "CallSite", "Frame", "Interpreter"]


class Interpreter(FlowMixin, CallsMixin, TensorsMixin):
    """Evaluates statements and expressions of one function in one context."""

    def __init__(self, project: "Project", frame: Frame):
        self.project = project
        self.frame = frame
        self.module = frame.module
        self.tables = project.tables
