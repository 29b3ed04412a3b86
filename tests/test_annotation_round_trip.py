"""The annotation loop: nerp's pre-annotations go to Label Studio or doccano and come back.

A real tiny ONNX package predicts on unseen resumes with ``nerp predict --format
label-studio`` (and ``doccano``); ``nerp data import`` reads those files back and must
give exactly the predicted spans, document by document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nerp_deploy.convert import build_toy_checkpoint, convert_checkpoint, synthetic_documents
from nerp_infra.documents import read_documents, write_documents

NERP = str(Path(sys.executable).parent / "nerp")

Spans = dict[str, list[tuple[int, int, str]]]


def nerp(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [NERP, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("round-trip")
    artifact = build_toy_checkpoint(root / "model-artifact", steps=80)
    return convert_checkpoint(artifact, root / "package").package_dir


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "unlabelled.jsonl"
    write_documents(synthetic_documents(8, seed=777), path)
    return path


@pytest.fixture(scope="module")
def predicted(package: Path, docs: Path) -> Spans:
    """What nerp's own format says the model found, per document id."""
    out = nerp("predict", str(package), "--jsonl", str(docs), "--threads", "1")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    spans = {r["id"]: [(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in records}
    assert sum(map(len, spans.values())) >= 10, "the toy model should find entities"
    return spans


def imported(path: Path) -> Spans:
    return {d.id: [(s.start, s.end, s.label) for s in d.spans] for d in read_documents(path)}


def test_label_studio_round_trip(
    package: Path, docs: Path, predicted: Spans, tmp_path: Path
) -> None:
    export = tmp_path / "pre-annotations.json"
    out = nerp(
        "predict", str(package), "--jsonl", str(docs), "--threads", "1",
        "--format", "label-studio", "--model-version", "resume-ner@1",
    )  # fmt: skip
    export.write_text(out.stdout)
    back = tmp_path / "back.jsonl"
    # predictions are not labels: without --use-predictions every task is dropped
    refused = nerp("data", "import", str(export), "--format", "label-studio", "--out", str(back))
    assert "unannotated" in refused.stdout
    assert read_documents(back) == []

    nerp("data", "import", str(export), "--use-predictions", "--out", str(back))  # auto-detected
    assert imported(back) == predicted
    originals = {d.id: d.text for d in read_documents(docs)}
    assert {d.id: d.text for d in read_documents(back)} == originals

    # a reviewer accepts the pre-annotations in Label Studio: they become an annotation
    tasks = json.loads(export.read_text())
    for task in tasks:
        task["annotations"] = [{"id": 1, "was_cancelled": False, **task["predictions"][0]}]
    export.write_text(json.dumps(tasks))
    nerp("data", "import", str(export), "--format", "label-studio", "--out", str(back))
    assert imported(back) == predicted


def test_doccano_round_trip(package: Path, docs: Path, predicted: Spans, tmp_path: Path) -> None:
    out = nerp(
        "predict", str(package), "--jsonl", str(docs), "--threads", "1", "--format", "doccano"
    )
    export = tmp_path / "doccano.jsonl"
    export.write_text(out.stdout)
    back = tmp_path / "back.jsonl"
    nerp("data", "import", str(export), "--format", "doccano", "--out", str(back))
    assert imported(back) == predicted
