"""`packlint server` end to end: a real LSP client (pytest-lsp) drives the real server process (`packlint server`).

Nothing here waits a fixed time: each step waits for the diagnostics of the document version it sent (with a
generous bound so that a broken server fails the test instead of hanging it). Debouncing is shown by configuring a
debounce longer than any test, so that only an explicit save can publish.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

pytest_asyncio = pytest.importorskip("pytest_asyncio")
pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

from test_cli import BAD  # noqa: E402

MODEL = BAD.split("def step")[0]
TRAIN = """\
import torch.nn.functional as F
from model import Tagger


def step(model: Tagger, x, lengths, y):
    logits = model(x, lengths)
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
"""
LOSS_LINE = 7  # 1-based line of the loss call in TRAIN
CLEAN_MODEL = MODEL.replace("return self.head(out)", "return self.head(x)")
WAIT = 120  # seconds: only a bound on a broken server, never a timing that a passing test depends on


def make_client() -> LanguageClient:
    """A client that keeps every publishDiagnostics it receives, in order, and wakes waiters on each one."""
    client = LanguageClient()
    client.published = []
    client.arrived = None

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish(ls: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        ls.published.append(params)
        ls.diagnostics[params.uri] = params.diagnostics
        if ls.arrived is not None:
            ls.arrived.set()

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show(ls: LanguageClient, params: types.ShowMessageParams) -> None:
        ls.messages.append(params)

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def log(ls: LanguageClient, params: types.LogMessageParams) -> None:
        ls.log_messages.append(params)

    return client


SERVER = [sys.executable, "-m", "packlint.cli", "server"]


async def _start(tmp_path: Path, debounce: float) -> LanguageClient:
    client = await ClientServerConfig(server_command=SERVER, client_factory=make_client).start()
    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=tmp_path.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="proj")],
        initialization_options={"debounce": debounce}))
    return client


@pytest_asyncio.fixture
async def project(tmp_path: Path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    client = await _start(tmp_path, debounce=0.05)
    yield client, tmp_path
    await client.shutdown_session()
    await client.stop()


async def diagnostics(client: LanguageClient, uri: str, version: int | None = None, after: int = 0
                      ) -> types.PublishDiagnosticsParams:
    """The first diagnostics published for ``uri`` (at ``version`` when given) from the ``after``-th on."""

    async def wait() -> types.PublishDiagnosticsParams:
        client.arrived = client.arrived or asyncio.Event()
        while True:
            for params in client.published[after:]:
                if params.uri == uri and (version is None or params.version == version):
                    return params
            client.arrived.clear()
            await client.arrived.wait()

    return await asyncio.wait_for(wait(), WAIT)


async def _raw(client: LanguageClient, body: bytes) -> None:
    """Write one framed message as is, past the client's own serialisation (which would refuse it)."""
    written = client.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    if inspect.isawaitable(written):
        await written


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))
    return uri


def change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


@pytest.mark.asyncio
async def test_open_publishes_the_cross_file_finding_with_its_trail(project) -> None:
    client, root = project
    uri = open_doc(client, root / "train.py", TRAIN)
    params = await diagnostics(client, uri, 1)
    assert [(d.code, d.source, d.severity) for d in params.diagnostics] == [
        ("PKL001", "packlint", types.DiagnosticSeverity.Warning)]
    found = params.diagnostics[0]
    line = TRAIN.splitlines()[LOSS_LINE - 1]
    call = "F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))"
    start = line.index(call)
    assert (found.range.start.line, found.range.start.character) == (LOSS_LINE - 1, start)
    assert (found.range.end.line, found.range.end.character) == (LOSS_LINE - 1, start + len(call))
    assert found.code_description.href.endswith("/PKL001.md")
    trail = [(Path(r.location.uri).name, r.location.range.start.line + 1, r.message)
             for r in found.related_information]
    assert trail[0] == ("model.py", 14, "pad_packed_sequence")
    assert [uri_name for uri_name, _, _ in trail] == ["model.py", "model.py", "train.py", "train.py"]


@pytest.mark.asyncio
async def test_columns_are_counted_in_utf16_units(project) -> None:
    client, root = project
    line = '    return {"\U0001f60b": 0} and F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))'
    text = TRAIN.replace(TRAIN.splitlines()[LOSS_LINE - 1], line)
    uri = open_doc(client, root / "train.py", text)
    (found,) = (await diagnostics(client, uri, 1)).diagnostics
    before = line[: line.index("F.cross_entropy")]
    assert found.range.start.character == len(before.encode("utf-16-le")) // 2 == len(before) + 1


@pytest.mark.asyncio
async def test_unsaved_buffers_take_the_place_of_files_on_disk(project) -> None:
    client, root = project
    train = open_doc(client, root / "train.py", TRAIN)
    assert len((await diagnostics(client, train, 1)).diagnostics) == 1
    # the imported module is edited, not saved: the importer's finding goes, from the model's buffer alone
    seen = len(client.published)
    model = open_doc(client, root / "model.py", MODEL)
    await diagnostics(client, model, 1)
    await diagnostics(client, train, None, after=seen)  # opening a module it reads lints the importer again
    seen = len(client.published)
    change(client, model, CLEAN_MODEL, 2)
    assert list((await diagnostics(client, train, None, after=seen)).diagnostics) == []
    assert (root / "model.py").read_text(encoding="utf-8") == MODEL
    # and the document's own buffer: masked with ignore_index, then broken
    seen = len(client.published)
    change(client, model, MODEL, 3)
    assert len((await diagnostics(client, train, None, after=seen)).diagnostics) == 1
    change(client, train, TRAIN.replace("y.reshape(-1))", "y.reshape(-1), ignore_index=-100)"), 2)
    assert list((await diagnostics(client, train, 2)).diagnostics) == []
    change(client, train, TRAIN + "def broken(:\n", 3)
    problems = (await diagnostics(client, train, 3)).diagnostics
    assert [(d.code, d.severity) for d in problems] == [("syntax-error", types.DiagnosticSeverity.Error)]
    assert problems[0].range.start.line == len(TRAIN.splitlines())


@pytest.mark.asyncio
async def test_add_noqa_code_action_silences_the_finding(project) -> None:
    client, root = project
    uri = open_doc(client, root / "train.py", TRAIN)
    found = (await diagnostics(client, uri, 1)).diagnostics
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=found[0].range,
        context=types.CodeActionContext(diagnostics=list(found))))
    assert [a.title for a in actions] == ["packlint: add `# noqa: PKL001`"]
    action = actions[0]
    assert action.kind == types.CodeActionKind.QuickFix and list(action.diagnostics) == list(found)
    (edit,) = action.edit.changes[uri]
    lines = TRAIN.splitlines()
    assert edit.new_text == lines[LOSS_LINE - 1] + "  # noqa: PKL001"
    assert (edit.range.start.line, edit.range.start.character) == (LOSS_LINE - 1, 0)
    lines[LOSS_LINE - 1] = edit.new_text
    change(client, uri, "\n".join(lines) + "\n", 2)
    assert list((await diagnostics(client, uri, 2)).diagnostics) == []


@pytest.mark.asyncio
async def test_malformed_requests_and_vanished_files_do_not_stop_it(project) -> None:
    client, root = project
    uri = open_doc(client, root / "train.py", TRAIN)
    assert len((await diagnostics(client, uri, 1)).diagnostics) == 1
    # bytes that are not JSON, a request whose params do not fit its method, a method nobody has
    await _raw(client, b"{not json")
    await _raw(client, b'{"jsonrpc": "2.0", "id": 9001, "method": "textDocument/codeAction", '
                       b'"params": {"textDocument": 5}}')
    await _raw(client, b'{"jsonrpc": "2.0", "id": 9002, "method": "packlint/nothing", "params": null}')
    # a code action for a document that was never opened: nothing to offer
    ghost = (root / "ghost.py").as_uri()
    assert list(await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=ghost),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[])))) == []
    # the imported module vanishes from disk: the importer is linted again without it, and nothing breaks
    (root / "model.py").unlink()
    seen = len(client.published)
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
        uri=(root / "model.py").as_uri(), type=types.FileChangeType.Deleted)]))
    assert list((await diagnostics(client, uri, None, after=seen)).diagnostics) == []
    # and so does the document's own file: its buffer is still linted
    (root / "train.py").unlink()
    change(client, uri, TRAIN + "\n", 2)
    assert list((await diagnostics(client, uri, 2)).diagnostics) == []
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert list((await diagnostics(client, uri, None, after=seen + 2)).diagnostics) == []
    assert not [m for m in client.log_messages if "packlint" in m.message], client.log_messages


@pytest.mark.asyncio
async def test_changes_are_debounced_and_a_save_lints_at_once(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    client = await _start(tmp_path, debounce=3600.0)  # no change is linted before the test ends, unless saved
    try:
        uri = open_doc(client, tmp_path / "train.py", TRAIN)
        await diagnostics(client, uri, 1)
        for version in (2, 3, 4):
            change(client, uri, TRAIN + "\n" * version, version)
        client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        final = await diagnostics(client, uri, 4)
        assert len(final.diagnostics) == 1
        assert [p.version for p in client.published if p.uri == uri] == [1, 4]
    finally:
        await client.shutdown_session()
        await client.stop()


def test_without_pygls_the_command_says_how_to_install_it() -> None:
    code = ("import sys\nsys.modules['pygls'] = None\nfrom packlint.cli import main\nmain(['server'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "pip install 'packlint[server]'" in out.stderr
    assert "Traceback" not in out.stderr
