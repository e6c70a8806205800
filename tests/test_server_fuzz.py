"""Fuzzing `packlint server` (issue 19, item 4): whatever a client sends, the server answers a request with a
result or an error, ignores a notification it cannot use, and keeps serving.

One server process per test, spoken to in raw framed JSON-RPC (``Content-Length`` headers) on its stdin, so that
payloads no client library would send (wrong types, missing fields, not JSON at all) reach it. After each payload a
probe request must be answered; at the end a real document must still get its diagnostics, and the session ends
with ``shutdown``/``exit`` and exit status 0. Nothing waits a fixed time: each read waits for a message, with a
generous bound so that a dead server fails the test instead of hanging it.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("pygls")

from test_server import MODEL, TRAIN  # noqa: E402

SERVER = [sys.executable, "-m", "packlint.cli", "server"]
WAIT = 120  # seconds: only a bound on a broken server, never a timing a passing test depends on
LONG_RUN = int(os.environ.get("PACKLINT_FUZZ_EXAMPLES", "0") or 0)


class RawClient:
    """A server process and the messages it sends, read on a thread into a queue."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=root)
        self.inbox: queue.Queue = queue.Queue()
        self.ids = itertools.count(1)
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    self.inbox.put(None)  # the server is gone
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def send_bytes(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, message) -> None:
        self.send_bytes(json.dumps(message).encode("utf-8"))

    def request(self, method: str, params) -> int:
        rid = next(self.ids)
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def until(self, wanted) -> dict:
        """The first message from now on for which ``wanted`` is true (earlier ones are dropped)."""
        while True:
            try:
                message = self.inbox.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no message from the server; stderr: {b''.join(self.stderr)[-2000:]!r}")
            assert message is not None, f"the server died; stderr: {b''.join(self.stderr)[-2000:]!r}"
            if wanted(message):
                return message

    def response(self, rid: int) -> dict:
        return self.until(lambda m: m.get("id") == rid and "method" not in m)

    def diagnostics(self, uri: str, version: int | None = None) -> list[dict]:
        message = self.until(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == uri
                             and (version is None or m["params"].get("version") == version))
        return message["params"]["diagnostics"]

    def alive(self) -> None:
        """A probe: a code action for a document never opened is answered with nothing to offer."""
        rid = self.request("textDocument/codeAction", {
            "textDocument": {"uri": "file:///nowhere/probe.py"},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []}})
        assert self.response(rid).get("result") == []

    def close(self) -> int:
        if self.proc.poll() is None:
            self.response(self.request("shutdown", None))
            self.notify("exit", None)
        code = self.proc.wait(timeout=WAIT)
        self.proc.stdin.close()
        return code


@pytest.fixture
def server(tmp_path: Path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    client = RawClient(tmp_path)
    rid = client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {},
                                        "initializationOptions": {"debounce": 0.01}})
    assert "capabilities" in client.response(rid)["result"]
    client.notify("initialized", {})
    yield client, tmp_path
    if client.proc.poll() is None:
        client.proc.kill()
        client.proc.wait()


def still_serves(client: RawClient, root: Path, version: int) -> None:
    """The end of every test: a real document gets its finding, and the session ends cleanly."""
    uri = (root / "train.py").as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": version, "text": TRAIN}})
    assert [d["code"] for d in client.diagnostics(uri, version)] == ["PKL001"]
    assert client.close() == 0


# --- hand-picked payloads ---------------------------------------------------------------------------------------

RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}}
MALFORMED: list[bytes | dict] = [
    b"{not json",
    b"",
    b"[]",
    b"42",
    b'"a string"',
    b"null",
    b'{"jsonrpc": "2.0"}',
    b'{"jsonrpc": "2.0", "id": null}',
    b"\xff\xfe not utf-8",
    {"jsonrpc": "2.0", "id": "s1", "method": "textDocument/codeAction", "params": {"textDocument": 5}},
    {"jsonrpc": "2.0", "id": "s2", "method": "textDocument/codeAction", "params": []},
    {"jsonrpc": "2.0", "id": "s3", "method": "textDocument/codeAction"},
    {"jsonrpc": "2.0", "id": "s4", "method": "textDocument/codeAction", "params": {
        "textDocument": {"uri": "file:///x.py"}, "range": RANGE, "context": {"diagnostics": [{"range": RANGE}]}}},
    {"jsonrpc": "2.0", "id": "s5", "method": "packlint/nothing", "params": None},
    {"jsonrpc": "2.0", "id": "s6", "method": 17, "params": {}},
    {"jsonrpc": "2.0", "id": {"an": "object"}, "method": "textDocument/codeAction", "params": {}},
    {"jsonrpc": "1.0", "id": "s7", "method": "textDocument/codeAction", "params": {}},
    {"jsonrpc": "2.0", "id": "s8", "method": "initialize", "params": {"capabilities": "none"}},
    {"jsonrpc": "2.0", "id": "s11", "method": "initialized", "params": {}},  # notifications sent as requests
    {"jsonrpc": "2.0", "id": "s12", "method": "textDocument/didSave",
     "params": {"textDocument": {"uri": "file:///x.py"}}},
    {"jsonrpc": "2.0", "id": 0, "method": "$/cancelRequest", "params": {"id": 1}},
    {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": 3}}},
    {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "file:///x.py", "languageId": "python", "version": "one", "text": None}}},
    {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": "file:///never/opened.py", "version": 2}, "contentChanges": [{"text": "x = 1\n"}]}},
    {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": "file:///never/opened.py", "version": 3},
        "contentChanges": [{"range": RANGE, "text": "y"}]}},
    {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {}, "contentChanges": "x"}},
    {"jsonrpc": "2.0", "method": "textDocument/didSave", "params": {"textDocument": {"uri": "file:///never.py"}}},
    {"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": "file:///never.py"}}},
    {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "untitled:Untitled-1", "languageId": "python", "version": 1, "text": "import torch\n"}}},
    {"jsonrpc": "2.0", "method": "workspace/didChangeWatchedFiles", "params": {"changes": [{"uri": 1, "type": 9}]}},
    {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 123456}},
    {"jsonrpc": "2.0", "method": "$/setTrace", "params": {"value": "loud"}},
    {"jsonrpc": "2.0", "id": "s9", "result": {"unasked": True}},
    {"jsonrpc": "2.0", "id": "s10", "error": {"code": 1, "message": "an error nobody asked for"}},
]


def test_malformed_payloads_get_an_error_or_are_ignored(server) -> None:
    client, root = server
    for payload in MALFORMED:
        if isinstance(payload, bytes):
            client.send_bytes(payload)
        else:
            client.send(payload)
            rid = payload.get("id")
            if "method" in payload and isinstance(rid, (int, str)) and payload["method"] != "initialize":
                answer = client.response(rid)
                assert "error" in answer or answer.get("result") == [], (payload, answer)
        client.alive()
    still_serves(client, root, 1)


def test_huge_buffers_are_linted_or_refused_and_the_server_goes_on(server) -> None:
    client, root = server
    uri = (root / "huge.py").as_uri()
    rows = "x = [" + ", ".join(str(i) for i in range(40)) + "]\n"
    text = "import torch\nfrom torch.nn.utils.rnn import pad_sequence\n" + rows * (2_000_000 // len(rows))
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": text}})
    client.diagnostics(uri, 1)  # a too-large problem or findings: published, whichever it is
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"text": text + "y = (" * 5000 + ")" * 5000 + "\n"}]})
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    client.diagnostics(uri, 2)
    # one huge line of a few MB, and a code action over it
    line = "z = '" + "a" * 3_000_000 + "'\n"
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [
        {"text": "from torch.nn.utils.rnn import pad_sequence\n" + line}]})
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    client.diagnostics(uri, 3)
    rid = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 0},
                                                "end": {"line": 1, "character": 3_000_000}},
        "context": {"diagnostics": [{"range": RANGE, "message": "m", "source": "packlint", "code": "PKL001"}]}})
    assert "result" in client.response(rid) or "error" in client.response(rid)
    client.alive()
    still_serves(client, root, 1)


def test_a_file_that_vanishes_keeps_its_buffer_linted(server) -> None:
    client, root = server
    (root / "gone.py").write_text(TRAIN, encoding="utf-8")
    uri = (root / "gone.py").as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": TRAIN}})
    assert [d["code"] for d in client.diagnostics(uri, 1)] == ["PKL001"]
    (root / "gone.py").unlink()
    (root / "model.py").unlink()  # and the module it imports
    client.notify("workspace/didChangeWatchedFiles", {"changes": [
        {"uri": (root / "model.py").as_uri(), "type": 3}, {"uri": uri, "type": 3}]})
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": TRAIN + "\n"}]})
    assert client.diagnostics(uri, 2) == []  # the buffer, without the module it imported
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri, 2) == []
    # the whole folder goes
    (root / "train.py").unlink()
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                             "contentChanges": [{"text": MODEL + TRAIN.replace("from model import "
                                                                                               "Tagger\n", "")}]})
    assert [d["code"] for d in client.diagnostics(uri, 3)] == ["PKL001"]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []
    client.alive()
    (root / "model.py").write_text(MODEL, encoding="utf-8")
    still_serves(client, root, 1)


# --- generated payloads -----------------------------------------------------------------------------------------

METHODS = ["textDocument/didOpen", "textDocument/didChange", "textDocument/didSave", "textDocument/didClose",
           "textDocument/codeAction", "workspace/didChangeWatchedFiles", "textDocument/hover",
           "workspace/executeCommand", "packlint/unknown", "$/cancelRequest", "initialized"]
LIFECYCLE = {"initialize", "shutdown", "exit"}  # they end or restart the session by design
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=12)
URIS = st.sampled_from(["file:///tmp/packlint-fuzz/a.py", "file:///", "file://", "untitled:1", "", "file:///a.ipynb",
                        "file:///%ZZ.py", "http://example.com/x.py"])
POSITION = st.fixed_dictionaries({"line": st.integers(-5, 10**9) | JSON, "character": st.integers(-5, 10**9)})
DOC = st.fixed_dictionaries({"uri": URIS | JSON}, optional={
    "version": st.integers() | JSON, "languageId": st.just("python") | JSON,
    "text": st.text(max_size=200) | st.just("import torch\nx = (") | JSON})
PARAMS = st.fixed_dictionaries({"textDocument": DOC | JSON}, optional={
    "contentChanges": st.lists(st.fixed_dictionaries({"text": st.text(max_size=50) | JSON}, optional={
        "range": st.fixed_dictionaries({"start": POSITION, "end": POSITION}) | JSON}), max_size=3) | JSON,
    "range": st.fixed_dictionaries({"start": POSITION, "end": POSITION}) | JSON,
    "context": st.fixed_dictionaries({"diagnostics": st.lists(JSON, max_size=2) | JSON}) | JSON,
    "changes": st.lists(st.fixed_dictionaries({"uri": URIS, "type": st.integers(-1, 5)}), max_size=2) | JSON,
    "id": JSON}) | JSON


def test_generated_payloads_never_stop_it(server) -> None:
    client, root = server
    seen = {"requests": 0, "notifications": 0}

    @settings(max_examples=LONG_RUN or 60, deadline=None, database=None, derandomize=not LONG_RUN,
              suppress_health_check=list(HealthCheck))
    @given(method=(st.sampled_from(METHODS) | st.text(max_size=10)).filter(lambda m: m not in LIFECYCLE),
           params=PARAMS, is_request=st.booleans(), drop_params=st.booleans())
    def check(method: str, params, is_request: bool, drop_params: bool) -> None:
        message: dict = {"jsonrpc": "2.0", "method": method}
        if not drop_params:
            message["params"] = params
        if is_request:
            message["id"] = rid = f"g{next(client.ids)}"
            client.send(message)
            answer = client.response(rid)
            assert "result" in answer or ("error" in answer and isinstance(answer["error"].get("code"), int)), answer
            seen["requests"] += 1
        else:
            client.send(message)
            seen["notifications"] += 1
        client.alive()

    check()
    assert min(seen.values()) >= 10, seen
    still_serves(client, root, 1)
