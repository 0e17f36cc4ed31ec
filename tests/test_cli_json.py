"""``--json`` on every subcommand: a ``schema`` on every document, errors as JSON objects,
and ``--help`` that names defaults and ends with examples.

Every run goes through ``certify.cli.main`` with small specs (well under a second of
certification each); the audit's certifications are replaced by a stub.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from certify import cli
from certify.cli import main

ROOT = Path(__file__).resolve().parent.parent

SMALL = {"theorem": "single-head",
         "target": {"kind": "truncated-linear", "a": -1.0, "b": 1.0, "w": [[1.0]], "t": [0.0]},
         "domain": {"lo": -1.0, "hi": 1.0},
         "construction": {"p": 8, "kappa": 3.0}, "mode": "measure", "tol": 0.05}

#: Every subcommand and whether its options include one with a default to show.
SUBCOMMANDS = {"certify": True, "sweep": True, "check": True, "plot": True, "build": False,
               "theorems": True, "bound": True, "audit": True, "export": False}

ERROR_KEYS = {"schema", "error", "message", "exit_code"}


def _write(directory: Path, obj, name: str = "spec.json") -> str:
    path = directory / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def _run(argv, capfd):
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err


def _doc(out: str) -> dict:
    doc = json.loads(out)  # the whole of standard output is one document
    assert isinstance(doc, dict) and isinstance(doc.get("schema"), str), out
    return doc


def _error(code, out, err, kind="input", prefix="attncert: error: ") -> dict:
    """The error object on stdout beside exactly one human line on stderr."""
    doc = _doc(out)
    assert ERROR_KEYS <= set(doc), doc
    assert doc["schema"] == cli.ERROR_SCHEMA and doc["error"] == kind
    assert doc["exit_code"] == code
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    assert doc["message"] and doc["message"] in lines[0]
    assert "Traceback" not in err
    return doc


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A small spec and its certificate (written once for the module)."""
    d = tmp_path_factory.mktemp("cli_json")
    spec = _write(d, SMALL)
    cert = str(d / "small.cert.json")
    assert main(["certify", spec, "--out", cert, "--jobs", "1"]) == 0
    return {"spec": spec, "cert": cert}


# -- a schema on every document ---------------------------------------------------------------

def test_certify_json_has_schema_and_exit_code(files, tmp_path, capfd):
    code, out, err = _run(["certify", files["spec"], "--json", "--jobs", "1"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-certify-report/1"
    assert doc["exit_code"] == 0 and doc["holds"] is True and "error" not in doc


def test_certify_json_with_out_dash_keeps_stdout_for_the_certificate(files, capfd):
    code, out, err = _run(["certify", files["spec"], "--out", "-", "--json", "--jobs", "1"],
                          capfd)
    assert code == 0
    assert json.loads(out)["schema"] == "attncert-certificate/1"
    assert json.loads(err)["schema"] == "attncert-certify-report/1"


def test_sweep_json_is_one_wrapped_document(files, capfd):
    code, out, err = _run(["sweep", files["spec"], "--vary", "p=4,8", "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-sweep/1" and doc["exit_code"] == 0
    assert [r["config"] for r in doc["rows"]] == [{"p": 4}, {"p": 8}]


def test_check_json_has_schema(files, capfd):
    code, out, err = _run(["check", files["cert"], "--backend", "flint", "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-check-report/1" and doc["verified"]


def test_check_rejection_is_a_report_with_an_error_kind(files, tmp_path, capfd):
    cert = json.loads(Path(files["cert"]).read_text())
    cert["claim"]["upper"] *= 0.5
    code, out, err = _run(["check", _write(tmp_path, cert, "bad.json"), "--backend", "flint",
                           "--json"], capfd)
    doc = _doc(out)
    assert code == 1 and doc["schema"] == "attncert-check-report/1"
    assert doc["exit_code"] == 1 and doc["error"] == "rejected" and doc["message"]


def test_plot_json_has_schema(files, tmp_path, capfd):
    fig = tmp_path / "fig.png"
    code, out, err = _run(["plot", files["cert"], "--out", str(fig), "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-plot-report/1" and fig.exists()


def test_build_json_has_schema(files, tmp_path, capfd):
    code, out, err = _run(["build", files["spec"], "--out", str(tmp_path / "net.json"),
                           "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-build-report/1" and doc["sha256"]


def test_theorems_list_json_has_schema(capfd):
    code, out, err = _run(["theorems", "list", "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-theorems/1"
    assert {"single-head", "uap"} <= {t["id"] for t in doc["theorems"]}


def test_theorems_check_prints_the_proof_export_unchanged(tmp_path, capfd):
    from theorems.proof_dag import FORMAT

    code, out, err = _run(["theorems", "check", "lemma-s", "--json"], capfd)
    export = json.loads(out)
    assert code == 0 and export["format"] == FORMAT and "schema" not in export
    code, out, err = _run(["theorems", "replay", _write(tmp_path, out, "proof.json"),
                           "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-replay-report/1" and doc["replayed"] is True
    assert doc["nodes"] > 0
    # A rejected export says "replayed": false, whatever was re-checked before the rejection.
    export["theorems"][0]["status"] = "open"
    code, out, err = _run(["theorems", "replay", _write(tmp_path, json.dumps(export),
                                                        "bad.json"), "--json"], capfd)
    doc = _doc(out)
    assert code == 1 and doc["replayed"] is False and doc["nodes"] > 0


def test_theorems_replay_rejection_is_a_report(tmp_path, capfd):
    code, out, err = _run(["theorems", "replay", _write(tmp_path, "{}", "proof.json"),
                           "--json"], capfd)
    doc = _doc(out)
    assert code == 1 and doc["schema"] == "attncert-replay-report/1"
    assert doc["error"] == "rejected" and doc["exit_code"] == 1 and doc["message"]


def test_bound_json_has_schema(capfd):
    code, out, err = _run(["bound", "single-head", "--a", "-1", "--b", "1", "--p", "8",
                           "--kappa", "3", "--tol", "0.05", "--jobs", "1", "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-bound-report/1" and doc["bound"] > 0


def _fake_audit(rejected: int):
    def run_audit(out_dir, quick=False, jobs=1, progress=None):
        return {"mode": "quick" if quick else "full", "seconds": 0.5, "plots": [],
                "summary": {"certificates": 2, "verified": 2 - rejected,
                            "rejected": rejected, "task_errors": []},
                "claims": [{"id": "claim-1", "verdict": "confirmed", "ours": "0.1",
                            "extra": True}]}
    return run_audit


@pytest.mark.parametrize("rejected", [0, 1])
def test_audit_json_has_schema(rejected, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr("certify.audit.run_audit", _fake_audit(rejected))
    code, out, err = _run(["audit", "--quick", "--out", str(tmp_path / "a"), "--jobs", "1",
                           "--json"], capfd)
    doc = _doc(out)
    assert doc["schema"] == "attncert-audit-report/1" and doc["exit_code"] == code
    assert doc["claims"] == [{"id": "claim-1", "verdict": "confirmed", "ours": "0.1"}]
    if rejected:
        assert code == 1 and doc["error"] == "rejected" and doc["message"]
    else:
        assert code == 0 and "error" not in doc


def test_export_json_has_schema(files, tmp_path, capfd):
    pytest.importorskip("torch")
    out_pt = tmp_path / "net.pt"
    code, out, err = _run(["export", files["cert"], "--torch", str(out_pt), "--json"], capfd)
    doc = _doc(out)
    assert code == 0 and doc["schema"] == "attncert-export-report/1" and out_pt.exists()
    assert doc["torch"] == str(out_pt) and doc["max_relative_difference"] <= 1e-12
    assert err == ""


def test_schemas_are_distinct_and_versioned():
    names = [*cli.SCHEMAS.values(), cli.ERROR_SCHEMA]
    assert len(set(names)) == len(names)
    assert all(n.startswith("attncert-") and n.endswith("/1") for n in names)


def test_non_finite_numbers_are_written_as_null(capfd):
    cli.emit_report({"upper": float("inf"), "rows": [{"x": float("nan")}]}, True, "",
                    cli.SCHEMAS["certify"])
    doc = json.loads(capfd.readouterr().out)
    assert doc["upper"] is None and doc["rows"] == [{"x": None}]


# -- errors as JSON objects ----------------------------------------------------------------

def _bad_files(tmp_path: Path) -> dict[str, str]:
    return {"missing": str(tmp_path / "missing.json"),
            "malformed": _write(tmp_path, '{"theorem": "single-head", ', "malformed.json"),
            "boolean": _write(tmp_path, {**SMALL, "tol": True}, "boolean.json"),
            "boolean_hi": _write(tmp_path, {**SMALL, "domain": {"lo": -1.0, "hi": True}},
                                 "boolean_hi.json"),
            "spec": _write(tmp_path, SMALL),
            "dir": str(tmp_path)}


#: Bad input per subcommand: argv from the paths of :func:`_bad_files`.
BAD = {
    "certify missing file": lambda f: ["certify", f["missing"]],
    "certify malformed JSON": lambda f: ["certify", f["malformed"]],
    "certify unknown option": lambda f: ["certify", f["spec"], "--bogus"],
    "certify boolean for a number": lambda f: ["certify", f["boolean"]],
    "certify boolean bound": lambda f: ["certify", f["boolean_hi"]],
    "certify bad budget": lambda f: ["certify", f["spec"], "--max-boxes", "0"],
    "sweep missing file": lambda f: ["sweep", f["missing"], "--vary", "p=4"],
    "sweep malformed JSON": lambda f: ["sweep", f["malformed"], "--vary", "p=4"],
    "sweep unknown key": lambda f: ["sweep", f["spec"], "--vary", "q=4"],
    "sweep boolean for a number": lambda f: ["sweep", f["boolean"], "--vary", "p=4"],
    "check missing file": lambda f: ["check", f["missing"]],
    "check malformed JSON": lambda f: ["check", f["malformed"]],
    "check unknown option": lambda f: ["check", f["spec"], "--bogus"],
    "plot missing file": lambda f: ["plot", f["missing"], "--out", f["dir"] + "/f.png"],
    "plot missing --out": lambda f: ["plot", f["spec"]],
    "build missing file": lambda f: ["build", f["missing"], "--out", f["dir"] + "/n.json"],
    "build boolean for a number": lambda f: ["build", f["boolean"], "--out",
                                             f["dir"] + "/n.json"],
    "theorems unknown id": lambda f: ["theorems", "check", "no-such-result"],
    "theorems unknown action": lambda f: ["theorems", "prove"],
    "theorems replay missing file": lambda f: ["theorems", "replay", f["missing"]],
    "bound not a number": lambda f: ["bound", "single-head", "--a", "x", "--b", "1", "--p",
                                     "8", "--kappa", "3"],
    "bound empty interval": lambda f: ["bound", "single-head", "--a", "1", "--b", "1",
                                       "--p", "8", "--kappa", "3"],
    "audit unknown option": lambda f: ["audit", "--bogus"],
    "audit non-empty directory": lambda f: ["audit", "--out", str(ROOT / "examples")],
    "unknown subcommand": lambda f: ["frobnicate"],
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_with_json_is_an_error_object(case, tmp_path, capfd):
    argv = BAD[case](_bad_files(tmp_path))
    code, out, err = _run([*argv, "--json"], capfd)
    assert code == 2, (code, out, err)
    doc = _error(code, out, err)
    command = argv[0] if argv[0] in cli.COMMANDS else None
    assert doc["command"] == command


@pytest.mark.parametrize("case", ["certify missing file", "certify unknown option",
                                  "check missing file"])
def test_bad_input_without_json_prints_nothing_on_stdout(case, tmp_path, capfd):
    code, out, err = _run(BAD[case](_bad_files(tmp_path)), capfd)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1


def test_export_bad_input_with_json(tmp_path, capfd):
    code, out, err = _run(["export", str(tmp_path / "missing.json"), "--torch",
                           str(tmp_path / "o.pt"), "--json"], capfd)
    assert code == 2
    doc = _error(code, out, err, prefix="attncert export: error: ")
    assert doc["command"] == "export" and "no such file" in doc["message"]


def test_json_alone_is_an_error_object_without_a_command(capfd):
    code, out, err = _run(["--json"], capfd)
    assert code == 2 and _error(code, out, err)["command"] is None


def test_an_abbreviated_json_flag_is_honoured_when_the_arguments_do_not_parse(tmp_path,
                                                                              capfd):
    code, out, err = _run(["certify", _write(tmp_path, SMALL), "--js", "--bogus"], capfd)
    assert code == 2 and _error(code, out, err)["command"] == "certify"


def test_error_goes_to_stderr_when_stdout_holds_the_document(tmp_path, capfd):
    code, out, err = _run(["certify", str(tmp_path / "missing.json"), "--out", "-",
                           "--json"], capfd)
    assert code == 2 and out == ""
    human, obj = err.strip().splitlines()
    assert human.startswith("attncert: error: ")
    doc = json.loads(obj)
    assert doc["schema"] == cli.ERROR_SCHEMA and doc["exit_code"] == 2


def test_internal_error_with_json(tmp_path, capfd, monkeypatch):
    def boom(spec):
        raise RuntimeError("unexpected state")

    monkeypatch.setattr("certify.pipeline.build", boom)
    code, out, err = _run(["build", _write(tmp_path, SMALL), "--out",
                           str(tmp_path / "n.json"), "--json"], capfd)
    assert code == 3
    doc = _error(code, out, err, kind="internal", prefix="attncert: internal error: ")
    assert doc["message"] == "RuntimeError: unexpected state"


def test_interrupt_with_json(tmp_path, capfd, monkeypatch):
    def interrupted(spec):
        raise KeyboardInterrupt

    monkeypatch.setattr("certify.pipeline.build", interrupted)
    # Worker processes left by other tests would make main leave the process at once.
    monkeypatch.setattr("certify.interrupts.stop_workers", lambda: False)
    code, out, err = _run(["build", _write(tmp_path, SMALL), "--out",
                           str(tmp_path / "n.json"), "--json"], capfd)
    assert code == 130
    _error(code, out, err, kind="interrupted", prefix="attncert: interrupted")
    assert not (tmp_path / "n.json").exists()


# -- exit 1: reports that carry an error kind --------------------------------------------

def test_budget_stop_with_json(tmp_path, capfd):
    code, out, err = _run(["certify", _write(tmp_path, SMALL), "--max-boxes", "1", "--jobs",
                           "1", "--json"], capfd)
    doc = _doc(out)
    assert code == 1 and doc["schema"] == "attncert-certify-report/1"
    assert doc["exit_code"] == 1 and doc["error"] == "not-certified"
    assert "not certified within the budget" in doc["message"] and not doc["holds"]


def test_sweep_budget_stop_with_json(tmp_path, capfd):
    code, out, err = _run(["sweep", _write(tmp_path, SMALL), "--vary", "p=4,8",
                           "--max-boxes", "1", "--json"], capfd)
    doc = _doc(out)
    assert code == 1 and doc["schema"] == "attncert-sweep/1"
    assert doc["exit_code"] == 1 and doc["error"] == "not-certified"
    assert doc["message"] == "2 of 2 configuration(s) not certified"


def test_false_claim_with_json(tmp_path, capfd):
    spec = {**SMALL, "mode": "prove", "epsilon": 1e-3}
    spec.pop("tol")
    code, out, err = _run(["certify", _write(tmp_path, spec), "--jobs", "1", "--json"],
                          capfd)
    doc = _doc(out)
    assert code == 1 and doc["error"] == "fails" and doc["counterexample"]
    assert doc["exit_code"] == 1 and doc["message"]


# -- help --------------------------------------------------------------------------------------

def _help(argv, capfd) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capfd.readouterr().out


def _example_lines(text: str) -> list[str]:
    tail = text.split("examples:\n", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.startswith("  attncert ")]


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_subcommand_help_shows_defaults_and_examples(command, capfd):
    text = _help([command], capfd)
    assert "example" in text
    if SUBCOMMANDS[command]:
        assert "default" in text
    examples = _example_lines(text)
    assert any(line.startswith(f"attncert {command}") for line in examples), text
    if command in ("certify", "sweep", "build"):
        assert any("examples/" in line for line in examples)


def test_help_shows_each_default_value(capfd):
    text = " ".join(_help(["check"], capfd).split())
    assert "(default: both)" in text and "(default: 1)" in text
    text = " ".join(_help(["certify"], capfd).split())
    assert f"(default: {cli.DEFAULT_TIMEOUT:g})" in text
    assert "(default: one per core)" in text
    text = " ".join(_help(["bound"], capfd).split())
    assert "(default: 0.01)" in text
    text = " ".join(_help(["audit"], capfd).split())
    assert "(default: audit)" in text


def test_top_level_help_has_one_example_per_main_command(capfd):
    text = _help([], capfd)
    examples = _example_lines(text)
    for command in cli.COMMANDS:
        assert any(line.startswith(f"attncert {command} ") for line in examples), command


def test_every_example_names_existing_files_and_parses(capfd):
    """Each example of every ``--help`` parses, and each examples/ file it names exists."""
    lines = _example_lines(_help([], capfd))
    for command in SUBCOMMANDS:
        lines += _example_lines(_help([command], capfd))
    parser = cli.make_parser()
    for line in lines:
        words = shlex.split(line)
        for i, w in enumerate(words):
            if w in ("<", ">"):
                words = words[:i]
                break
        for w in words:
            if w.startswith("examples/"):
                assert (ROOT / w).is_file(), line
        args = parser.parse_args(words[1:])
        assert args.command == words[1]
