"""packlint.report: the same records rendered as text, full text, JSON, SARIF and GitHub commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from packlint.diagnostics import FileProblem, Finding, LintResult, TrailStep
from packlint.report import FORMAT_NAMES, get_reporter, rule_table, summary_line, use_color
from packlint.report import github, json_format, sarif, text


def make_result(root: Path) -> LintResult:
    """Two findings in two files (one with a trail and a suggestion), a problem, in shuffled order."""
    model = root / "model.py"
    model.write_text(
        "import torch\n"
        "out, lens = pad_packed_sequence(packed, batch_first=True)\n"
        "\tloss = criterion(out.view(-1, C), y.view(-1))\n",
        encoding="utf-8",
    )
    train = root / "train.py"
    train.write_text("x = 1\n", encoding="utf-8")
    trail = (
        TrailStep(str(model), 2, 13, "padded by pad_packed_sequence"),
        TrailStep(str(model), 3, 19, "flattened by view"),
    )
    return LintResult(
        findings=[
            Finding(str(train), 1, 1, "PKL002", "unmasked-target", "target padded with 0, ignore_index=-100"),
            Finding(
                str(model),
                3,
                9,
                "PKL001",
                "unmasked-loss",
                "`criterion` reads `out`, padded since line 2",
                suggestion="multiply the per-step loss by a length mask",
                trail=trail,
                end_line=3,
            ),
        ],
        problems=[FileProblem(str(root / "broken.py"), "syntax-error", "invalid syntax", line=4, col=7)],
        files_checked=3,
    )


@pytest.fixture
def result(tmp_path) -> LintResult:
    return make_result(tmp_path)


# --- text ---------------------------------------------------------------------------------


def test_concise_text_is_one_sorted_line_per_record(result, tmp_path):
    out = text.render(result, cwd=tmp_path)
    assert out.splitlines() == [
        "broken.py:4:7: error: syntax-error: invalid syntax",
        "model.py:3:9: PKL001 `criterion` reads `out`, padded since line 2",
        "train.py:1:1: PKL002 target padded with 0, ignore_index=-100",
    ]
    assert out.endswith("\n")


def test_paths_outside_cwd_are_left_as_given(result, tmp_path):
    out = text.render(result, cwd=tmp_path / "elsewhere")
    assert out.splitlines()[1].startswith(f"{tmp_path}/model.py:3:9: PKL001")


def test_empty_result_renders_nothing():
    for name in ("text", "full", "github"):
        assert get_reporter(name)(LintResult()) == ""


def test_full_text_shows_source_caret_trail_and_help(result, tmp_path):
    out = text.render(result, full=True, cwd=tmp_path)
    block = out.split("\n\n")[1].splitlines()
    assert block == [
        "model.py:3:9: PKL001 `criterion` reads `out`, padded since line 2",
        "  |",
        "3 |     loss = criterion(out.view(-1, C), y.view(-1))",
        "  |            ^",  # the tab is expanded in both the line and the caret's offset
        "  = trail: model.py:2:13 padded by pad_packed_sequence",
        "  = trail: model.py:3:19 flattened by view",
        "  = help: multiply the per-step loss by a length mask",
    ]


def test_full_text_survives_files_that_cannot_be_reread(result, tmp_path):
    (tmp_path / "model.py").unlink()
    (tmp_path / "train.py").write_bytes(b"x = \x80\x81 garbage")  # undecodable now
    out = get_reporter("full")(result, cwd=tmp_path)
    assert "model.py:3:9: PKL001" in out and "  = help: multiply" in out
    assert " | " not in out  # no snippet could be shown, and nothing crashed


def test_notebook_positions_and_snippet(tmp_path):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# hi"},
            {"cell_type": "code", "id": "b", "metadata": {}, "outputs": [], "execution_count": None,
             "source": "x = 1\nloss = ce(out, y)\n"},
        ],
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    finding = Finding(str(path), 2, 8, "PKL001", "unmasked-loss", "m", cell=2)
    out = text.render(LintResult(findings=[finding]), full=True, cwd=tmp_path)
    assert out.splitlines()[:3] == ["nb.ipynb:cell 2:2:8: PKL001 m", "  |", "2 | loss = ce(out, y)"]


def test_notebook_records_sort_by_cell_before_line():
    a = Finding("nb.ipynb", 9, 1, "PKL001", "unmasked-loss", "a", cell=2)
    b = Finding("nb.ipynb", 1, 1, "PKL001", "unmasked-loss", "b", cell=3)
    out = text.render(LintResult(findings=[b, a]), cwd="/")
    assert [line.split(":")[1] for line in out.splitlines()] == ["cell 2", "cell 3"]


def test_color_only_when_asked(result, tmp_path):
    assert "\x1b[" not in text.render(result, cwd=tmp_path, full=True)
    colored = text.render(result, cwd=tmp_path, color=True)
    assert "\x1b[" in colored and "PKL001" in colored


def test_newline_in_a_message_cannot_forge_a_record(tmp_path):
    finding = Finding("a.py", 1, 1, "PKL001", "unmasked-loss", "first\nb.py:1:1: PKL002 forged")
    assert len(text.render(LintResult(findings=[finding]), cwd=tmp_path).splitlines()) == 1


@pytest.mark.parametrize(
    ("findings", "problems", "expected"),
    [
        ([], [], "All checks passed."),
        ([("a.py", 1)], [], "Found 1 finding in 1 file."),
        ([("a.py", 1), ("a.py", 2), ("b.py", 1)], [], "Found 3 findings in 2 files."),
        ([("a.py", 1)], ["c.py", "d.py"], "Found 1 finding in 1 file; 2 files could not be checked."),
        ([], ["c.py"], "No findings; 1 file could not be checked."),
        ([], ["c.py", "c.py"], "No findings; 1 file could not be checked."),
    ],
)
def test_summary_line(findings, problems, expected):
    res = LintResult(
        findings=[Finding(p, line, 1, "PKL001", "unmasked-loss", "m") for p, line in findings],
        problems=[FileProblem(p, "io-error", "x", line=i + 1) for i, p in enumerate(problems)],
    )
    assert summary_line(res) == expected


def test_use_color_rules():
    class Tty:
        def isatty(self):
            return True

    assert use_color("always", None, {"NO_COLOR": "1"})
    assert not use_color("never", Tty(), {"FORCE_COLOR": "1"})
    assert use_color("auto", Tty(), {})
    assert not use_color("auto", Tty(), {"NO_COLOR": "1"})
    assert use_color("auto", None, {"FORCE_COLOR": "1"})
    assert not use_color("auto", None, {})


# --- json ---------------------------------------------------------------------------------


def test_json_has_findings_errors_and_summary(result, tmp_path):
    doc = json.loads(json_format.render(result, cwd=tmp_path))
    assert doc["version"] == json_format.FORMAT_VERSION
    assert [f["code"] for f in doc["findings"]] == ["PKL001", "PKL002"]
    first = doc["findings"][0]
    assert {k: first[k] for k in ("path", "line", "col", "end_line", "name", "severity")} == {
        "path": "model.py", "line": 3, "col": 9, "end_line": 3, "name": "unmasked-loss", "severity": "error",
    }
    assert first["trail"][0] == {
        "path": "model.py", "line": 2, "col": 13, "cell": None, "what": "padded by pad_packed_sequence",
    }
    assert first["url"].endswith("PKL001.md")
    assert doc["errors"] == [
        {"path": "broken.py", "line": 4, "col": 7, "cell": None, "kind": "syntax-error", "code": None,
         "message": "invalid syntax"}
    ]
    assert doc["summary"]["findings"] == 2 and doc["summary"]["errors"] == 1
    assert doc["summary"]["by_code"] == {"PKL001": 1, "PKL002": 1}
    assert doc["summary"]["files_checked"] == 3


def test_json_round_trips(result, tmp_path):
    rendered = json_format.render(result, cwd=tmp_path)
    back = json_format.load(rendered)
    assert json_format.render(back, cwd=tmp_path) == rendered
    assert back.findings[0].trail[1] == TrailStep("model.py", 3, 19, "flattened by view")
    assert back.problems == [FileProblem("broken.py", "syntax-error", "invalid syntax", 4, 7)]


def test_json_keeps_unicode_and_internal_error_code(tmp_path):
    res = LintResult(problems=[FileProblem("é.py", "internal-error", "rule PKL001 crashed: KeyError 'ü'")])
    doc = json.loads(json_format.render(res, cwd=tmp_path))
    assert doc["errors"][0]["code"] == "PKL900" and "ü" in doc["errors"][0]["message"]


def test_json_load_rejects_other_versions():
    with pytest.raises(ValueError, match="version"):
        json_format.load('{"version": 99, "findings": [], "errors": []}')


# --- sarif --------------------------------------------------------------------------------

LEVELS = {"none", "note", "warning", "error"}


def sarif_problems(doc) -> list[str]:
    """Check the required properties and enums of SARIF 2.1.0 for the objects packlint emits.

    Written from the specification's object definitions (sarifLog, run, tool, toolComponent,
    reportingDescriptor, result, message, location, physicalLocation, artifactLocation, region,
    codeFlow, threadFlow, invocation, notification); returns what is wrong, empty when valid.
    """
    errors: list[str] = []

    def need(obj, key, where):
        if not isinstance(obj, dict) or key not in obj:
            errors.append(f"{where}: missing '{key}'")
            return None
        return obj[key]

    def message(obj, where):
        if not isinstance(obj, dict) or not ("text" in obj or "id" in obj):
            errors.append(f"{where}: a message needs 'text' or 'id'")

    def location(loc, where):
        phys = loc.get("physicalLocation")
        if phys is not None:
            if "artifactLocation" not in phys and "address" not in phys:
                errors.append(f"{where}.physicalLocation: needs artifactLocation or address")
            art = phys.get("artifactLocation", {})
            if "uri" in art and not isinstance(art["uri"], str):
                errors.append(f"{where}: uri must be a string")
            region = phys.get("region")
            if region is not None:
                for k in ("startLine", "startColumn", "endLine", "endColumn"):
                    if k in region and (not isinstance(region[k], int) or region[k] < 1):
                        errors.append(f"{where}.region.{k} must be an integer >= 1")
        if "message" in loc:
            message(loc["message"], f"{where}.message")

    if need(doc, "version", "log") != "2.1.0":
        errors.append("log: version must be '2.1.0'")
    runs = need(doc, "runs", "log") or []
    for r, run in enumerate(runs):
        where = f"runs[{r}]"
        driver = need(need(run, "tool", where) or {}, "driver", f"{where}.tool") or {}
        need(driver, "name", f"{where}.tool.driver")
        rules = driver.get("rules", [])
        for i, rule in enumerate(rules):
            need(rule, "id", f"{where}.rules[{i}]")
            for k in ("shortDescription", "fullDescription", "help"):
                if k in rule:
                    message(rule[k], f"{where}.rules[{i}].{k}")
        if run.get("columnKind", "unicodeCodePoints") not in ("unicodeCodePoints", "utf16CodeUnits"):
            errors.append(f"{where}: bad columnKind")
        for i, inv in enumerate(run.get("invocations", [])):
            if not isinstance(need(inv, "executionSuccessful", f"{where}.invocations[{i}]"), bool):
                errors.append(f"{where}.invocations[{i}].executionSuccessful must be a boolean")
            for j, note in enumerate(inv.get("toolExecutionNotifications", [])):
                message(need(note, "message", f"{where}.notifications[{j}]"), f"{where}.notifications[{j}]")
                if note.get("level", "warning") not in LEVELS:
                    errors.append(f"{where}.notifications[{j}]: bad level")
                for k, loc in enumerate(note.get("locations", [])):
                    location(loc, f"{where}.notifications[{j}].locations[{k}]")
        for i, res in enumerate(run.get("results", [])):
            rw = f"{where}.results[{i}]"
            message(need(res, "message", rw), rw)
            if res.get("level", "warning") not in LEVELS:
                errors.append(f"{rw}: bad level")
            if "ruleIndex" in res and rules and rules[res["ruleIndex"]]["id"] != res.get("ruleId"):
                errors.append(f"{rw}: ruleIndex does not point at ruleId")
            for k, loc in enumerate(res.get("locations", [])):
                location(loc, f"{rw}.locations[{k}]")
            for c, flow in enumerate(res.get("codeFlows", [])):
                threads = need(flow, "threadFlows", f"{rw}.codeFlows[{c}]") or []
                if not threads:
                    errors.append(f"{rw}.codeFlows[{c}]: threadFlows must not be empty")
                for t, thread in enumerate(threads):
                    steps = need(thread, "locations", f"{rw}.codeFlows[{c}].threadFlows[{t}]") or []
                    if not steps:
                        errors.append(f"{rw}.codeFlows[{c}].threadFlows[{t}]: locations must not be empty")
                    for s, step in enumerate(steps):
                        location(step.get("location", {}), f"{rw}.codeFlows[{c}].threadFlows[{t}][{s}]")
    return errors


def test_sarif_is_valid_and_complete(result, tmp_path):
    doc = json.loads(sarif.render(result, cwd=tmp_path))
    assert sarif_problems(doc) == []
    run = doc["runs"][0]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    for code in ("PKL001", "PKL002"):
        assert {"id", "name", "shortDescription", "helpUri"} <= rules[code].keys()
        assert rules[code]["helpUri"].startswith("https://")
    first = run["results"][0]
    assert first["ruleId"] == "PKL001" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "model.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 9, "endLine": 3},
    }
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def test_sarif_trail_is_a_code_flow_ending_at_the_sink(result, tmp_path):
    run = json.loads(sarif.render(result, cwd=tmp_path))["runs"][0]
    steps = run["results"][0]["codeFlows"][0]["threadFlows"][0]["locations"]
    positions = [
        (s["location"]["physicalLocation"]["region"]["startLine"], s["location"]["physicalLocation"]["region"]["startColumn"])
        for s in steps
    ]
    assert positions == [(2, 13), (3, 19), (3, 9)]
    assert steps[0]["location"]["message"]["text"] == "padded by pad_packed_sequence"
    assert [s["executionOrder"] for s in steps] == [1, 2, 3]
    assert "codeFlows" not in run["results"][1]  # no trail, no flow


def test_sarif_problems_are_notifications(result, tmp_path):
    run = json.loads(sarif.render(result, cwd=tmp_path))["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and note["message"]["text"] == "syntax-error: invalid syntax"
    assert note["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 7}
    clean = json.loads(sarif.render(LintResult(), cwd=tmp_path))["runs"][0]
    assert clean["invocations"] == [{"executionSuccessful": True}] and clean["results"] == []
    assert sarif_problems(json.loads(sarif.render(LintResult(), cwd=tmp_path))) == []


def test_sarif_fingerprint_survives_a_moved_line(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("loss = ce(out, y)\n", encoding="utf-8")
    finding = Finding(str(path), 1, 8, "PKL001", "unmasked-loss", "reads `out`, padded since line 1")

    def fingerprint(f):
        doc = sarif.to_dict(LintResult(findings=[f]), cwd=tmp_path)
        return doc["runs"][0]["results"][0]["partialFingerprints"]["packlint/v1"]

    before = fingerprint(finding)
    path.write_text("import torch\n\n    loss = ce(out, y)\n", encoding="utf-8")
    moved = Finding(str(path), 3, 12, "PKL001", "unmasked-loss", "reads `out`, padded since line 3")
    assert fingerprint(moved) == before
    path.write_text("loss = mse(out, y)\n", encoding="utf-8")
    assert fingerprint(finding) != before


def test_sarif_paths_are_uri_encoded_and_outside_root_absolute(tmp_path):
    inside = Finding(str(tmp_path / "my dir" / "a#1.py"), 1, 1, "PKL001", "unmasked-loss", "m")
    outside = Finding("/elsewhere/b.py", 1, 1, "PKL001", "unmasked-loss", "m")
    run = sarif.to_dict(LintResult(findings=[inside, outside]), cwd=tmp_path)["runs"][0]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert uris == [{"uri": "file:///elsewhere/b.py"}, {"uri": "my%20dir/a%231.py", "uriBaseId": "%SRCROOT%"}]


def test_sarif_notebook_location_has_no_region(tmp_path):
    finding = Finding(str(tmp_path / "nb.ipynb"), 2, 5, "PKL001", "unmasked-loss", "m", cell=3)
    doc = sarif.to_dict(LintResult(findings=[finding]), cwd=tmp_path)
    assert sarif_problems(doc) == []
    res = doc["runs"][0]["results"][0]
    assert "region" not in res["locations"][0]["physicalLocation"]
    assert res["locations"][0]["properties"] == {"cell": 3, "line": 2, "column": 5}
    assert res["message"]["text"].startswith("cell 3, line 2, column 5: ")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("version"),
        lambda d: d["runs"][0]["tool"]["driver"].pop("name"),
        lambda d: d["runs"][0]["results"][0].pop("message"),
        lambda d: d["runs"][0]["results"][0]["codeFlows"][0].pop("threadFlows"),
        lambda d: d["runs"][0]["invocations"][0].pop("executionSuccessful"),
        lambda d: d["runs"][0]["results"][0].update(level="fatal"),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine=0),
        lambda d: d["runs"][0]["results"][0].update(ruleIndex=1),
    ],
)
def test_sarif_checker_rejects_broken_documents(result, tmp_path, breakage):
    doc = sarif.to_dict(result, cwd=tmp_path)
    breakage(doc)
    assert sarif_problems(doc) != []


def test_rule_table_falls_back_to_findings_when_registry_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "packlint.rules", None)  # import now raises ImportError
    finding = Finding("a.py", 1, 1, "PKL042", "made-up-rule", "m")
    (rule,) = rule_table([finding])
    assert (rule.code, rule.name, rule.summary) == ("PKL042", "made-up-rule", "made up rule")
    doc = sarif.to_dict(LintResult(findings=[finding]), cwd="/")
    assert doc["runs"][0]["tool"]["driver"]["rules"][0]["id"] == "PKL042"


def test_rule_table_uses_the_registry(monkeypatch):
    class Rule:
        code, name, summary = "PKL005", "pooling-over-padding", "Pools over padded steps."

    class FakeRules:
        @staticmethod
        def registry():
            return [Rule()]

    monkeypatch.setitem(sys.modules, "packlint.rules", FakeRules)
    table = rule_table([Finding("a.py", 1, 1, "PKL001", "unmasked-loss", "m")])
    assert [(r.code, r.summary) for r in table] == [("PKL001", "unmasked loss"), ("PKL005", "Pools over padded steps.")]


# --- github -------------------------------------------------------------------------------


def test_github_lines(result, tmp_path):
    assert github.render(result, cwd=tmp_path).splitlines() == [
        "::error file=broken.py,line=4,col=7,title=packlint syntax-error::invalid syntax",
        "::error file=model.py,line=3,col=9,endLine=3,title=PKL001 unmasked-loss::"
        "`criterion` reads `out`, padded since line 2",
        "::error file=train.py,line=1,col=1,title=PKL002 unmasked-target::target padded with 0, ignore_index=-100",
    ]


def test_github_escaping():
    finding = Finding("dir,a:b%.py", 2, 3, "PKL001", "unmasked-loss", "100% bad\r\nnext: line, really")
    (line,) = github.render(LintResult(findings=[finding]), cwd="/nowhere").splitlines()
    assert line == (
        "::error file=dir%2Ca%3Ab%25.py,line=2,col=3,title=PKL001 unmasked-loss::"
        "100%25 bad%0D%0Anext: line, really"
    )
    assert github.escape_property("a%0A") == "a%250A"  # an escape in the input is not unescaped later


def test_github_full_adds_trail_and_help(result, tmp_path):
    out = github.render(result, full=True, cwd=tmp_path)
    assert "%0Atrail: model.py:2:13 padded by pad_packed_sequence" in out
    assert "%0Ahelp: multiply the per-step loss by a length mask" in out


def test_github_notebook_annotation_is_on_the_file():
    finding = Finding("nb.ipynb", 2, 5, "PKL001", "unmasked-loss", "m", cell=4)
    assert github.render(LintResult(findings=[finding])) == (
        "::error file=nb.ipynb,title=PKL001 unmasked-loss::cell 4, line 2, column 5: m\n"
    )


# --- registry -----------------------------------------------------------------------------


def test_every_format_renders_the_same_result(result, tmp_path):
    assert set(FORMAT_NAMES) >= {"text", "full", "json", "sarif", "github"}
    for name in FORMAT_NAMES:
        out = get_reporter(name)(result, cwd=tmp_path, color=False)
        assert "PKL001" in out and "syntax-error" in out


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError, match="unknown output format 'xml'.*sarif"):
        get_reporter("xml")


def test_format_modules_are_imported_lazily():
    code = (
        "import sys\n"
        "from packlint.report import get_reporter\n"
        "get_reporter('json')\n"
        "print(sorted(m for m in sys.modules if m.startswith('packlint.report.')))\n"
        "print('torch' in sys.modules, 'libcst' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout.splitlines()
    assert out == ["['packlint.report.json_format']", "False False"]


def test_github_lines_carry_the_end_column_when_known(tmp_path):
    """GitHub annotations underline the finding's extent: endColumn beside endLine, as JSON and SARIF carry it."""
    one_line = Finding(str(tmp_path / "m.py"), 5, 12, "PKL001", "unmasked-loss", "msg", end_col=40)
    spanning = Finding(str(tmp_path / "m.py"), 7, 3, "PKL003", "padded-last-step", "msg", end_line=9, end_col=8)
    lines = github.render(LintResult(findings=[one_line, spanning]), cwd=tmp_path).splitlines()
    assert lines[0].startswith("::error file=m.py,line=5,col=12,endLine=5,endColumn=40,title=PKL001")
    assert lines[1].startswith("::error file=m.py,line=7,col=3,endLine=9,endColumn=8,title=PKL003")
