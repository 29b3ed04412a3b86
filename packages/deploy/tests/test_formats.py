"""``nerp predict --format``: Label Studio tasks, doccano JSONL and transformers entities."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nerp_deploy.formats import (
    LabelStudioSettings,
    PredictionWriter,
    doccano_record,
    hf_entities,
    label_studio_task,
)
from nerp_infra.documents import Document, Entity, write_documents

NERP = str(Path(sys.executable).parent / "nerp")
TEXT = "Jane Doe 🚀 jane@example.com"
ENTITIES = [
    Entity(text="Jane Doe", label="NAME", start=0, end=8, confidence=0.9),
    Entity(text="jane@example.com", label="EMAIL", start=11, end=27, confidence=0.75),
]


def predict(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NERP, "predict", *args, "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_formats_module_imports_no_torch() -> None:
    code = (
        "import sys, nerp_deploy.formats; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hf_entities_use_the_pipeline_field_names() -> None:
    assert hf_entities(ENTITIES) == [
        {"entity_group": "NAME", "score": 0.9, "word": "Jane Doe", "start": 0, "end": 8},
        {
            "entity_group": "EMAIL",
            "score": 0.75,
            "word": "jane@example.com",
            "start": 11,
            "end": 27,
        },
    ]


def test_doccano_record() -> None:
    assert doccano_record(TEXT, ENTITIES, "cv-1") == {
        "id": "cv-1",
        "text": TEXT,
        "label": [[0, 8, "NAME"], [11, 27, "EMAIL"]],
    }
    assert "id" not in doccano_record(TEXT, [])


def test_label_studio_task() -> None:
    settings = LabelStudioSettings(model_version="m-1", from_name="ner", to_name="resume")
    task = label_studio_task(TEXT, ENTITIES, settings, doc_id="cv-1")
    assert task["data"] == {"text": TEXT, "id": "cv-1"}
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "m-1"
    assert prediction["score"] == 0.75  # the least certain entity
    first = prediction["result"][0]
    assert first == {
        "id": "nerp-0",
        "from_name": "ner",
        "to_name": "resume",
        "type": "labels",
        "value": {"start": 0, "end": 8, "text": "Jane Doe", "labels": ["NAME"]},
        "score": 0.9,
    }
    assert len({r["id"] for r in prediction["result"]}) == 2
    assert label_studio_task("x", [])["predictions"][0] == {
        "model_version": "nerp",
        "score": 1.0,
        "result": [],
    }


@pytest.mark.parametrize("count", [0, 1, 3])
def test_label_studio_writer_writes_one_json_list(count: int) -> None:
    stream = io.StringIO()
    writer = PredictionWriter(stream, "label-studio")
    for i in range(count):
        writer.write(TEXT, ENTITIES, doc_id=str(i))
    writer.close()
    tasks = json.loads(stream.getvalue())
    assert [t["data"]["id"] for t in tasks] == [str(i) for i in range(count)]


def test_line_writers_keep_nerp_records() -> None:
    stream = io.StringIO()
    writer = PredictionWriter(stream, "nerp")
    writer.write(TEXT, ENTITIES, meta={"file": "cv.txt", "kind": "text"})
    writer.close()
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert list(record) == ["file", "kind", "entities"]
    assert record["entities"][0] == ENTITIES[0].model_dump()
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        PredictionWriter(stream, "xml")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def docs_file(documents: list[Document], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("formats") / "docs.jsonl"
    write_documents(documents[:6], path)
    return path


def test_predict_hf_format(package_dir: Path, docs_file: Path) -> None:
    result = predict(str(package_dir), "--jsonl", str(docs_file), "--format", "hf")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    texts = {doc["id"]: doc["text"] for doc in map(json.loads, docs_file.read_text().splitlines())}
    assert [r["id"] for r in records] == list(texts)
    found = 0
    for record in records:
        text = texts[record["id"]]
        for entity in record["entities"]:
            assert list(entity) == ["entity_group", "score", "word", "start", "end"]
            assert entity["word"] == text[entity["start"] : entity["end"]]
            assert 0.0 <= entity["score"] <= 1.0
            found += 1
    assert found > 0


def test_predict_label_studio_format(package_dir: Path, docs_file: Path) -> None:
    result = predict(
        str(package_dir), "--jsonl", str(docs_file), "--format", "label-studio",
        "--variant", "fp32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    tasks: list[dict[str, Any]] = json.loads(result.stdout)
    nerp = predict(str(package_dir), "--jsonl", str(docs_file), "--variant", "fp32")
    expected = [json.loads(line) for line in nerp.stdout.splitlines()]
    assert [t["data"]["id"] for t in tasks] == [r["id"] for r in expected]
    for task, record in zip(tasks, expected, strict=True):
        (prediction,) = task["predictions"]
        assert prediction["model_version"].startswith("nerp:") and prediction[
            "model_version"
        ].endswith(":fp32")
        spans = [
            (r["value"]["start"], r["value"]["end"], r["value"]["labels"][0], r["score"])
            for r in prediction["result"]
        ]
        assert spans == [
            (e["start"], e["end"], e["label"], e["confidence"]) for e in record["entities"]
        ]
        for region in prediction["result"]:
            value = region["value"]
            assert value["text"] == task["data"]["text"][value["start"] : value["end"]]
            assert (region["from_name"], region["to_name"], region["type"]) == (
                "label",
                "text",
                "labels",
            )
    custom = predict(
        str(package_dir), "--text", "Name: Dana Nguyen", "--format", "label-studio",
        "--model-version", "resume-ner@3", "--from-name", "ner", "--to-name", "cv",
    )  # fmt: skip
    assert custom.returncode == 0, custom.stderr
    (task,) = json.loads(custom.stdout)
    assert task["data"] == {"text": "Name: Dana Nguyen"}
    assert task["predictions"][0]["model_version"] == "resume-ner@3"
    assert {(r["from_name"], r["to_name"]) for r in task["predictions"][0]["result"]} == {
        ("ner", "cv")
    }


def test_predict_doccano_format(package_dir: Path, docs_file: Path, tmp_path: Path) -> None:
    result = predict(str(package_dir), "--jsonl", str(docs_file), "--format", "doccano")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    nerp = predict(str(package_dir), "--jsonl", str(docs_file))
    expected = [json.loads(line) for line in nerp.stdout.splitlines()]
    assert [list(r) for r in records] == [["id", "text", "label"]] * len(expected)
    assert [r["label"] for r in records] == [
        [[e["start"], e["end"], e["label"]] for e in x["entities"]] for x in expected
    ]
    cv = tmp_path / "cv.txt"
    cv.write_text("Name: Dana Nguyen\n")
    from_file = predict(str(package_dir), "--file", str(cv), "--format", "doccano")
    assert from_file.returncode == 0, from_file.stderr
    (record,) = [json.loads(line) for line in from_file.stdout.splitlines()]
    assert record["text"] == "Name: Dana Nguyen\n" and [
        record["text"][s:e] for s, e, label in record["label"] if label == "NAME"
    ] == ["Dana Nguyen"]


def test_predict_refuses_an_unknown_format(package_dir: Path) -> None:
    result = predict(str(package_dir), "--text", "x", "--format", "xml")
    assert result.returncode == 1
    assert "--format must be one of nerp, label-studio, doccano, hf, got 'xml'" in result.stderr
    assert result.stdout == ""
