"""The protocol wiring (pygls): document events in, diagnostics and code actions out.

Why the analysis runs on one worker thread: the event loop must keep answering (a code action, the next change)
while a lint runs, and the ``Workspace`` (buffers, caches) is then touched by that one thread only, so it needs no
locks. Every change to it (a buffer opened, changed, closed; the disk changed) is queued on the same thread, in
order. A change is linted after ``debounce`` seconds without another change to the same document (300 ms unless
the client's ``initializationOptions`` say ``{"debounce": seconds}``); open and save lint at once. A result is
published only if its document has not changed since the lint began (a newer lint is then on its way), and the other
open documents whose analysis read the changed file are linted again.

Nothing a client sends can stop the server: pygls answers malformed messages and unknown methods with JSON-RPC
errors, and every handler here turns an unexpected exception into a ``window/logMessage`` instead of a crash. A
document whose file vanished keeps being linted from its buffer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from packlint import __version__
from packlint.server import convert
from packlint.server.actions import ActionRequest, actions_for
from packlint.server.workspace import Workspace

DEBOUNCE_SECONDS = 0.3
#: The analysis recurses once per nesting level of an expression (the engine raises the recursion limit); a worker
#: thread gets a stack as large as the main thread's would be, so deep code fails as cleanly as it does in the CLI.
WORKER_STACK_BYTES = 256 * 1024 * 1024


class _Unreadable:
    """A request whose message could not be read (its params do not fit its method, its method is a notification's,
    or it is not JSON-RPC 2.0): it is answered with the error, where pygls would only log it (or handle it as a
    notification) and leave the client waiting forever."""

    def __init__(self, msg_id: int | str, error: JsonRpcException) -> None:
        self.id, self.error = msg_id, error


class _Protocol(LanguageServerProtocol):
    """pygls's protocol, except that every request gets a response, an error when it cannot be read."""

    def structure_message(self, data):
        try:
            message = super().structure_message(data)
        except JsonRpcException as exc:
            if _is_request(data):
                return _Unreadable(data["id"], exc)
            raise
        if _is_request(data) and not hasattr(message, "id"):  # a notification's method, sent with an id
            return _Unreadable(data["id"], JsonRpcInvalidRequest(f"{data['method']} is a notification, not a request"))
        return message

    def handle_message(self, message) -> None:
        if isinstance(message, _Unreadable):
            self._send_response(message.id, error=message.error.to_response_error())
            return
        if (isinstance(message, dict) and _is_request(message)) or (
                getattr(message, "jsonrpc", "2.0") != "2.0" and isinstance(getattr(message, "id", None), (int, str))
                and getattr(message, "method", None) is not None):
            self._send_response(message["id"] if isinstance(message, dict) else message.id,
                                error=JsonRpcInvalidRequest().to_response_error())
            return
        super().handle_message(message)


def _is_request(data) -> bool:
    return isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)) \
        and not isinstance(data.get("id"), bool)


class PacklintServer(LanguageServer):
    """The language server: the workspace, its worker thread, and the pending debounced lints."""

    def __init__(self) -> None:
        super().__init__("packlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=_Protocol)
        self.ws = Workspace()
        old = threading.stack_size()
        threading.stack_size(WORKER_STACK_BYTES)
        try:
            self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="packlint-lint")
            self.worker.submit(lambda: None).result()  # the thread starts now, with the large stack
        finally:
            threading.stack_size(old)
        self.debounce = DEBOUNCE_SECONDS
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.read_by: dict[str, frozenset[str]] = {}  # uri -> files its last lint read
        self.found: dict[str, tuple] = {}  # uri -> the findings last published for it (their fixes are actions)

    # ------------------------------------------------------------------ helpers
    async def on_worker(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.worker, partial(fn, *args))

    def log(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # noqa: BLE001 - logging must never be what breaks the server
            pass

    def lines_of(self, path: str, line: int) -> str | None:
        """A line of an open buffer or a file on disk, for positions (None when neither has it)."""
        uri = _uri(path)
        doc = self.workspace.text_documents.get(uri)
        if doc is not None:
            lines = doc.lines
        else:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                return None
        return lines[line - 1] if 1 <= line <= len(lines) else None

    def units(self, text: str) -> int:
        return self.workspace.position_codec.client_num_units(text)

    # ------------------------------------------------------------------ scheduling
    def schedule(self, uri: str, delay: float, cascade: bool = True) -> None:
        """Lint ``uri`` after ``delay`` seconds, replacing a lint of it already waiting."""
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(delay, lambda: asyncio.ensure_future(self.lint(uri, cascade)))

    async def lint(self, uri: str, cascade: bool = True) -> None:
        """Lint one open document and publish its diagnostics; then schedule the open documents that read it."""
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()  # a save or an open lints now what a debounced change would have linted later
        try:
            doc = self.workspace.text_documents.get(uri)
            path = _path(uri)
            if doc is None or path is None:
                return
            version, text = doc.version, doc.source
            await self.on_worker(self.ws.put, path, text)
            outcome = await self.on_worker(self.ws.lint, path)
            doc = self.workspace.text_documents.get(uri)
            if doc is None or doc.version != version:
                return  # closed or changed meanwhile: that event scheduled what comes next
            self.read_by[uri] = outcome.read
            self.found[uri] = tuple(outcome.findings)
            found = convert.diagnostics(outcome, path, self.lines_of, self.units)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=version))
            if cascade:
                for other, read in sorted(self.read_by.items()):
                    if other != uri and path in read:
                        self.schedule(other, self.debounce, cascade=False)
        except Exception as exc:  # noqa: BLE001 - a failed lint is logged, the server keeps serving
            self.log(f"packlint: linting {uri} failed: {type(exc).__name__}: {exc}")


def _path(uri: str) -> str | None:
    """The file behind a ``file:`` URI; None for other schemes (``untitled:``), which are not linted."""
    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    return os.path.abspath(path) if path else None


def _uri(path: str) -> str:
    return Path(path).as_uri()


def _is_python(path: str | None) -> bool:
    """Python files are linted; notebooks (``notebookDocument/*``) and other languages are not (yet)."""
    return path is not None and path.endswith(".py")


def build() -> PacklintServer:
    """The server with its features registered (tests and ``run`` both start from here)."""
    server = PacklintServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: PacklintServer, params: types.InitializeParams) -> None:
        try:
            folders = [f.uri for f in params.workspace_folders or ()]
            if not folders and params.root_uri:
                folders = [params.root_uri]
            ls.ws.folders = [p for p in (_path(u) for u in folders) if p]
            options = params.initialization_options
            if isinstance(options, dict) and isinstance(options.get("debounce"), (int, float)):
                ls.debounce = max(0.0, float(options["debounce"]))
        except Exception as exc:  # noqa: BLE001
            ls.log(f"packlint: initialization options ignored: {exc}")

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: PacklintServer, params: types.DidOpenTextDocumentParams) -> None:
        if _is_python(_path(params.text_document.uri)):
            await ls.lint(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PacklintServer, params: types.DidChangeTextDocumentParams) -> None:
        if _is_python(_path(params.text_document.uri)):
            ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    async def did_save(ls: PacklintServer, params: types.DidSaveTextDocumentParams) -> None:
        if _is_python(_path(params.text_document.uri)):
            await ls.on_worker(ls.ws.forget_listings)
            await ls.lint(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: PacklintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        waiting = ls.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        ls.read_by.pop(uri, None)
        ls.found.pop(uri, None)
        path = _path(uri)
        if path is not None:
            await ls.on_worker(ls.ws.drop, path)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for other, read in sorted(ls.read_by.items()):  # they read the buffer; now they read the disk
            if path in read:
                ls.schedule(other, ls.debounce, cascade=False)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def watched(ls: PacklintServer, params: types.DidChangeWatchedFilesParams) -> None:
        await ls.on_worker(ls.ws.forget_disk)
        for uri in sorted(ls.read_by):
            ls.schedule(uri, ls.debounce, cascade=False)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_action(ls: PacklintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        path = _path(uri)
        doc = ls.workspace.text_documents.get(uri)
        if path is None or doc is None:
            return []
        ours = [d for d in params.context.diagnostics if d.source == convert.SOURCE and d.code is not None]
        request = ActionRequest(path=path, text=doc.source,
                                diagnostics=tuple((d.range.start.line + 1, str(d.code)) for d in ours),
                                findings=ls.found.get(uri, ()))
        return [convert.code_action(a, uri, path, ls.lines_of, ls.units, ours) for a in actions_for(request)]

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: PacklintServer, params: None) -> None:
        for waiting in ls.pending.values():
            waiting.cancel()
        ls.pending.clear()
        ls.worker.shutdown(wait=False, cancel_futures=True)

    return server


class _OneLine(logging.Formatter):
    """pygls logs a malformed message with its traceback; the editor's log panel gets one line per event."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"packlint server: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return " ".join(text.splitlines())


def run() -> int:
    """Serve on stdin/stdout; 0 when the client ends the session."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    build().start_io()
    return 0


__all__ = ["DEBOUNCE_SECONDS", "PacklintServer", "build", "run"]
