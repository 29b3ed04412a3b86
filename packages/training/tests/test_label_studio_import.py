"""Label Studio JSON exports: which annotation counts, predictions, offsets, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nerp_infra.documents import Document, DocumentError, read_documents
from nerp_training.commands.data_cmd import app
from nerp_training.data import DataError, detect_format, import_documents, read_label_studio

MAPPING: dict[str, str | None] = {
    "Person": "NAME",
    "Title": "DESIGNATION",
    "Org": "COMPANY",
    "Skill": "SKILL",
    "Location": "LOCATION",
    "Email": "EMAIL",
    "Client": None,
}


def spans_text(doc: Document) -> list[tuple[str, str]]:
    return [(doc.text[s.start : s.end], s.label) for s in doc.spans]


@pytest.fixture
def export(fixtures_dir: Path) -> Path:
    return fixtures_dir / "label_studio.json"


def test_detected_by_its_data_and_annotations(export: Path, tmp_path: Path) -> None:
    assert detect_format(export) == "label-studio"
    only_predictions = tmp_path / "pre.json"
    only_predictions.write_text(json.dumps([{"data": {"text": "x"}, "predictions": []}]))
    assert detect_format(only_predictions) == "label-studio"


def test_annotations_become_documents(export: Path) -> None:
    result = import_documents(export, format="label-studio", label_mapping=MAPPING)
    docs = {d.id: d for d in result.documents}
    assert list(docs) == ["101", "102", "103", "105"]
    # several annotators, one cancelled: the newest one that was not cancelled
    assert spans_text(docs["101"]) == [
        ("Maria Garcia", "NAME"),
        ("Senior Data Engineer", "DESIGNATION"),
        ("Globex", "COMPANY"),
        ("Python", "SKILL"),
        ("Spark", "SKILL"),
    ]
    # ground_truth wins over a later annotation; predictions are ignored
    assert spans_text(docs["102"]) == [
        ("Kenji Sato", "NAME"),
        ("Tokyo", "LOCATION"),
        ("kenji@example.com", "EMAIL"),
    ]
    # offsets after an emoji counted in UTF-16 units are moved; two labels give two spans
    assert spans_text(docs["103"]) == [
        ("Priya Nair", "NAME"),
        ("Product Manager", "DESIGNATION"),
        ("Initech", "COMPANY"),
        ("Pune", "LOCATION"),
    ]
    realigned = result.report.issues_of("offset_mismatch")
    assert {i.action for i in realigned} == {"realigned"}
    assert {i.doc_id for i in realigned} == {"103"}
    assert "UTF-16" in realigned[0].reason
    assert result.report.label_actions["Client"].action == "dropped"
    # the text key named by the results' to_name
    assert docs["105"].text.startswith("Lena Fischer")
    assert spans_text(docs["105"]) == [("Lena Fischer", "NAME"), ("Berlin", "LOCATION")]
    # a task whose only annotation was cancelled is dropped and reported, with the way out
    (unannotated,) = result.report.issues_of("unannotated")
    assert unannotated.doc_id == "104" and unannotated.action == "dropped"
    assert "--use-predictions" in unannotated.reason
    assert result.report.dropped_documents == 1
    assert unannotated.source == f"{export}[3]"


def test_use_predictions_fills_tasks_without_annotations(export: Path) -> None:
    result = import_documents(
        export, format="label-studio", label_mapping=MAPPING, use_predictions=True
    )
    docs = {d.id: d for d in result.documents}
    assert list(docs) == ["101", "102", "103", "104", "105"]
    assert spans_text(docs["104"]) == [("Omar Haddad", "NAME"), ("DevOps Engineer", "DESIGNATION")]
    # an annotated task keeps its annotation even when it has predictions
    assert ("Tokyo", "LOCATION") in spans_text(docs["102"])
    assert result.report.dropped_documents == 0


def test_offsets_that_match_nothing_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "ls.json"
    task = {
        "id": 1,
        "data": {"text": "Ana Lima, Recife"},
        "annotations": [
            {
                "result": [
                    {
                        "type": "labels",
                        "value": {"start": 0, "end": 3, "text": "Bob", "labels": ["P"]},
                    }
                ]
            }
        ],
    }
    path.write_text(json.dumps([task]))
    (doc,) = read_label_studio(path)
    assert [(s.start, s.end, s.label) for s in doc.spans] == [(0, 3, "P")]
    (issue,) = doc.issues
    assert (issue.kind, issue.action) == ("offset_mismatch", "kept")
    assert "annotations[0].result[0]" in issue.reason


def bad_export(tmp_path: Path, task: Any, name: str = "ls.json") -> Path:
    path = tmp_path / name
    good = {"data": {"text": "ok"}, "annotations": []}
    path.write_text(json.dumps([good, task]))
    return path


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (["not", "a", "task"], r"\[1\]: a record must be a JSON object, got a list"),
        ({"text": "abc", "annotations": []}, r"\[1\]\.data: must be an object .*null"),
        (
            {"data": {"a": "x", "b": "y"}, "annotations": []},
            r"\[1\]\.data: no text to read: .*\(keys: a, b\)",
        ),
        ({"data": {"text": "abc"}, "annotations": {}}, r"\[1\]\.annotations: must be a list"),
        (
            {"data": {"text": "abc"}, "annotations": [{"result": "x"}]},
            r"\[1\]\.annotations\[0\]\.result: must be a list, got a string",
        ),
        (
            {
                "data": {"text": "abc"},
                "annotations": [
                    {
                        "result": [
                            {"type": "labels", "value": {"start": 0, "end": 1, "labels": ["X"]}}
                        ]
                    },
                    {
                        "result": [
                            {"type": "labels", "value": {"start": "0", "end": 1, "labels": ["X"]}}
                        ]
                    },
                ],
            },
            r"\[1\]\.annotations\[1\]\.result\[0\]\.value\.start: not an integer \(a string\)",
        ),
        (
            {
                "data": {"text": "abc"},
                "annotations": [
                    {"result": [{"type": "labels", "value": {"start": 0, "end": 1, "labels": "X"}}]}
                ],
            },
            r"\[1\]\.annotations\[0\]\.result\[0\]\.value\.labels: "
            r"must be a list of strings, got a string",
        ),
        (
            {
                "data": {"text": "abc"},
                "annotations": [{"result": [{"type": "labels", "value": None}]}],
            },
            r"\[1\]\.annotations\[0\]\.result\[0\]\.value: must be an object, got null",
        ),
        (
            {"data": {"text": "abc", "id": [1]}, "annotations": []},
            r"\[1\]\.data\.id: must be a string or an integer, got a list",
        ),
    ],
)
def test_errors_name_file_task_and_field(tmp_path: Path, task: Any, message: str) -> None:
    path = bad_export(tmp_path, task)
    with pytest.raises(DataError, match=rf"^{path}: {message}") as info:
        import_documents(path, format="label-studio")
    assert isinstance(info.value, DocumentError)


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    bad = {
        "data": {"text": "abc"},
        "predictions": [{"result": [{"value": {"start": 0, "end": None, "labels": ["X"]}}]}],
    }
    path.write_text(json.dumps({"data": {"text": "ok"}}) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError) as info:
        read_label_studio(path, use_predictions=True)
    assert str(info.value) == (
        f"{path}:2: predictions[0].result[0].value.end: not an integer (null)"
    )


def test_cli_import_with_mapping_and_predictions(export: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "docs.jsonl"
    args = ["import", str(export), "--format", "label-studio", "--out", str(out)]
    args += [f"--map={src}={dst or ''}" for src, dst in MAPPING.items()]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "label-studio" in result.output and "unannotated" in result.output
    assert [d.id for d in read_documents(out)] == ["101", "102", "103", "105"]
    result = runner.invoke(app, [*args, "--use-predictions"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [d.id for d in read_documents(out)] == ["101", "102", "103", "104", "105"]

    bad = bad_export(
        tmp_path,
        {
            "data": {"text": "abc"},
            "annotations": [
                {"result": [{"type": "labels", "value": {"start": 0, "end": 2, "labels": [3]}}]}
            ],
        },
    )
    result = runner.invoke(
        app,
        ["import", str(bad), "--format", "label-studio", "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1
    assert (
        f"{bad}: [1].annotations[0].result[0].value.labels: must be a list of strings"
        in result.output
    )
