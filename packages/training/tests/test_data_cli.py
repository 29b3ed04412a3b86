"""``nerp data …`` through typer's CliRunner: outputs, exit codes, help examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nerp_infra.documents import read_documents
from nerp_training.commands.data_cmd import app
from nerp_training.data import load_folds

runner = CliRunner()


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.mark.parametrize("command", ["import", "validate", "stats", "split", "synth"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples" in result.output
    assert f"nerp data {command}" in result.output


def test_synth_writes_deterministic_documents(tmp_path: Path) -> None:
    out = tmp_path / "docs.jsonl"
    result = run("synth", "--n", "25", "--seed", "13", "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 25 resumes" in result.output
    first = out.read_bytes()
    assert run("synth", "--n", "25", "--seed", "13", "--out", out).exit_code == 0
    assert out.read_bytes() == first
    assert len(read_documents(out)) == 25


def test_import_with_a_preset_and_map_overrides(tmp_path: Path, fixtures_dir: Path) -> None:
    out = tmp_path / "docs.jsonl"
    report = tmp_path / "report.json"
    result = run(
        "import",
        fixtures_dir / "dataturks.jsonl",
        "--preset",
        "dataturks-resumes",
        "--map",
        "Degree=",
        "--out",
        out,
        "--report",
        report,
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 documents (dataturks)" in result.output
    docs = read_documents(out)
    labels = {s.label for d in docs for s in d.spans}
    assert "EDUCATION" not in labels  # --map Degree= dropped the only degree
    data = json.loads(report.read_text())
    assert data["label_actions"]["Degree"]["action"] == "dropped"
    assert data["dropped_count"] == 5


def test_import_strict_refuses_and_writes_nothing(tmp_path: Path, fixtures_dir: Path) -> None:
    out = tmp_path / "docs.jsonl"
    result = run("import", fixtures_dir / "dataturks.jsonl", "--strict", "--out", out)
    assert result.exit_code == 1
    assert "--strict: 4 span(s) and 0 document(s) were dropped" in result.output
    assert not out.exists()
    clean = run("import", fixtures_dir / "native.jsonl", "--strict", "--out", out)
    assert clean.exit_code == 0, clean.output
    assert out.exists()


def test_import_reports_data_errors_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conll"
    bad.write_text("John B-NAME\nSmith Q-NAME\n")
    result = run("import", bad, "--out", tmp_path / "x.jsonl")
    assert result.exit_code == 1
    assert "bad.conll:2: tag: invalid BIO tag 'Q-NAME'" in result.output
    wrong_map = run("import", bad, "--map", "NAME", "--out", tmp_path / "x.jsonl")
    assert wrong_map.exit_code == 2
    assert "SRC=DST" in wrong_map.output


def test_validate_with_labels_tokenizer_and_strict(
    tmp_path: Path, wordpiece_tokenizer: Any
) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps(
            {
                "id": "r1",
                "text": "Senior engineer at Acme",
                "spans": [
                    {"start": 7, "end": 11, "label": "DESIGNATION"},
                    {"start": 19, "end": 23, "label": "COMPANY"},
                ],
            }
        )
        + "\n"
    )
    tokenizer = tmp_path / "tok"
    tokenizer.mkdir()
    wordpiece_tokenizer.save(str(tokenizer / "tokenizer.json"))
    result = run("validate", docs, "--tokenizer", tokenizer, "--labels", "DESIGNATION,COMPANY")
    assert result.exit_code == 0, result.output
    assert "token_boundary" in result.output
    assert "end inside a token of WordPiece" in result.output
    strict = run("validate", docs, "--labels", "COMPANY", "--strict")
    assert strict.exit_code == 1
    assert "--strict: 1 span(s)" in strict.output
    overlap = run(
        "validate",
        Path(__file__).parent / "fixtures" / "annotations.json",
        "--overlap-policy",
        "error",
    )
    assert overlap.exit_code == 1
    assert "overlap_policy 'error'" in overlap.output
    missing = run("validate", docs, "--tokenizer", tmp_path / "nothing")
    assert missing.exit_code == 1
    assert "no tokenizer.json here" in missing.output


def test_stats_as_json_and_table(fixtures_dir: Path) -> None:
    result = run("stats", fixtures_dir / "native.jsonl", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["documents"] == 2
    assert data["spans_per_type"] == {"EMAIL": 1, "LOCATION": 1, "NAME": 2, "PHONE": 1, "SKILL": 2}
    table = run("stats", fixtures_dir / "native.jsonl")
    assert "Entity types" in table.output
    assert "SKILL" in table.output


def test_split_with_folds(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    assert run("synth", "--n", "40", "--out", docs).exit_code == 0
    out = tmp_path / "splits"
    result = run("split", docs, "--out", out, "--seed", "3", "--k-folds", "4")
    assert result.exit_code == 0, result.output
    sizes = {
        name: len(read_documents(out / f"{name}.jsonl")) for name in ("train", "validation", "test")
    }
    assert sizes == {"train": 28, "validation": 6, "test": 6}
    folds = load_folds(out / "folds.json")
    assert len(folds) == 4
    pool = {d.id for name in ("train", "validation") for d in read_documents(out / f"{name}.jsonl")}
    assert {i for f in folds for i in f.validation_ids} == pool
    again = tmp_path / "again"
    assert run("split", docs, "--out", again, "--seed", "3", "--k-folds", "4").exit_code == 0
    assert (again / "test.jsonl").read_bytes() == (out / "test.jsonl").read_bytes()
    assert load_folds(again / "folds.json") == folds


def test_split_needs_native_documents(tmp_path: Path, fixtures_dir: Path) -> None:
    result = run("split", fixtures_dir / "dataturks.jsonl", "--out", tmp_path / "s")
    assert result.exit_code == 1
    assert "run `nerp data import` first" in result.output


@pytest.mark.parametrize("command", ["import", "validate"])
def test_unencodable_text_is_one_line_naming_file_line_and_field(
    tmp_path: Path, command: str
) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "Name: Ivo Smith"}\n{"text": "Jane \\ud800 Doe"}\n')
    out = ["--out", str(tmp_path / "out.jsonl")] if command == "import" else []
    result = runner.invoke(app, [command, str(source), *out], env={"COLUMNS": "60"})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # an error message, not a crash
    (line,) = [text for text in result.output.splitlines() if text.strip()]
    assert line.startswith(f"error: {source}:2: text: holds a lone surrogate U+D800")
    assert not (tmp_path / "out.jsonl").exists()
