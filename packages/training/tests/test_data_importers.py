"""Importers: every format to native documents, and errors that say where and why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nerp_infra.config.data import DEFAULT_LABELS
from nerp_infra.documents import DocumentError
from nerp_training.data import (
    DATATURKS_RESUME_MAPPING,
    DataError,
    detect_format,
    import_documents,
    read_conll,
    read_dataturks,
    read_doccano,
    read_native,
)


def spans_text(doc) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(doc.text[s.start : s.end], s.label) for s in doc.spans]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("native.jsonl", "native"),
        ("annotations.json", "native"),
        ("dataturks.jsonl", "dataturks"),
        ("doccano_label.jsonl", "doccano"),
        ("doccano_entities.jsonl", "doccano"),
        ("resumes.conll", "conll"),
        ("sentences.bio", "conll"),
    ],
)
def test_detect_format(fixtures_dir: Path, name: str, expected: str) -> None:
    assert detect_format(fixtures_dir / name) == expected


def test_detect_format_rejects_unknown_shapes(tmp_path: Path) -> None:
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"foo": 1}\n')
    with pytest.raises(DataError, match=r"odd\.jsonl: cannot tell the format from the keys"):
        detect_format(odd)
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n")
    with pytest.raises(DataError, match=r"x\.csv: cannot tell the format of a '\.csv' file"):
        detect_format(csv)


def test_native_jsonl_imports_unchanged(fixtures_dir: Path) -> None:
    result = import_documents(fixtures_dir / "native.jsonl")
    assert [d.id for d in result.documents] == ["n-1", "n-2"]
    assert spans_text(result.documents[0]) == [
        ("Maria Garcia", "NAME"),
        ("maria@garcia.dev", "EMAIL"),
        ("+1 555 0100", "PHONE"),
    ]
    assert result.report.issues == []
    assert result.report.dropped_count == 0
    assert result.formats == {str(fixtures_dir / "native.jsonl"): "native"}


def test_native_annotations_form_trims_drops_and_resolves(fixtures_dir: Path) -> None:
    result = import_documents(fixtures_dir / "annotations.json")
    first, second = result.documents
    assert (first.id, second.id) == ("annotations-0", "annotations-1")
    assert spans_text(first) == [
        ("Lena Fischer", "PERSON"),
        ("civil engineering", "EDUCATION"),
        ("TU Berlin", "EDUCATION"),
    ]
    counts = result.report.issue_counts()
    assert counts == {
        "nested": {"dropped": 1},
        "out_of_bounds": {"dropped": 1},
        "trimmed": {"trimmed": 1},
    }
    (oob,) = result.report.issues_of("out_of_bounds")
    assert oob.span == (40, 80, "OTHER")
    assert oob.source == f"{fixtures_dir / 'annotations.json'}[0]"


def test_read_native_keeps_raw_spans_for_validation(fixtures_dir: Path) -> None:
    raw = read_native(fixtures_dir / "annotations.json")
    assert [(s.start, s.end, s.label) for s in raw[0].spans][-1] == (40, 80, "OTHER")


def test_dataturks_quirks(fixtures_dir: Path) -> None:
    result = import_documents(
        fixtures_dir / "dataturks.jsonl",
        label_mapping=DATATURKS_RESUME_MAPPING,
        labels=DEFAULT_LABELS,
    )
    jane, raj, empty = result.documents
    assert spans_text(jane) == [
        ("Jane Doe", "NAME"),
        ("Senior Data Engineer", "DESIGNATION"),
        ("Acme Corp", "COMPANY"),
        ("Austin, TX", "LOCATION"),
        ("jane.doe@example.com", "EMAIL"),
        ("Python, SQL", "SKILL"),
    ]
    assert spans_text(raj) == [
        ("Raj Kumar", "NAME"),
        ("Test Lead", "DESIGNATION"),
        ("Globex", "COMPANY"),  # realigned: the stated offsets were 4 characters early
        ("B.E in Computer Science", "EDUCATION"),
        ("Bangalore", "LOCATION"),
    ]
    assert empty.spans == []
    report = result.report
    assert report.issue_counts() == {
        "duplicate_span": {"dropped": 1},
        "label_dropped": {"dropped": 1},
        "nested": {"dropped": 1},
        "offset_mismatch": {"realigned": 1},
        "trimmed": {"trimmed": 3},
        "unlabelled": {"dropped": 1},
    }
    assert (report.spans_in, report.spans_out, report.dropped_count) == (15, 11, 4)
    assert report.source_labels["Location"] == 4
    assert report.label_actions["Degree"].to == "EDUCATION"
    assert report.label_actions["UNKNOWN"].action == "dropped"
    assert report.label_actions[""].reason == "no label"
    (moved,) = report.issues_of("offset_mismatch")
    assert moved.source == f"{fixtures_dir / 'dataturks.jsonl'}:2"
    assert "+4 characters away" in moved.reason


def test_dataturks_offsets_are_kept_when_the_stated_text_is_nowhere_near(tmp_path: Path) -> None:
    path = tmp_path / "far.jsonl"
    record = {
        "content": "Name: Ada Lovelace",
        "annotation": [{"label": ["Name"], "points": [{"start": 6, "end": 17, "text": "Ada L."}]}],
    }
    path.write_text(json.dumps(record) + "\n")
    (doc,) = read_dataturks(path)
    assert [(s.start, s.end) for s in doc.spans] == [(6, 18)]
    assert [(i.kind, i.action) for i in doc.issues] == [("offset_mismatch", "kept")]


def test_dataturks_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "resumes.jsonl"
    good = {"content": "abc", "annotation": []}
    bad = {
        "content": "Jane Doe",
        "annotation": [
            {"label": ["Name"], "points": [{"start": 0, "end": 7}]},
            {"label": ["Name"], "points": [{"start": 0, "end": 7}]},
            {"label": ["Name"], "points": [{"start": 0, "end": 7}]},
            {"label": ["Name"], "points": [{"start": "0", "end": 7}]},
        ],
    }
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError) as info:
        read_dataturks(path)
    assert str(info.value) == (
        f"{path}:3: annotation[3].points[0].start: not an integer (a string)"
    )
    assert (info.value.line, info.value.field) == (3, "annotation[3].points[0].start")
    assert isinstance(info.value, DocumentError)


def test_doccano_label_and_entities(fixtures_dir: Path) -> None:
    result = import_documents(
        [fixtures_dir / "doccano_label.jsonl", fixtures_dir / "doccano_entities.jsonl"],
        label_mapping={"PER": "NAME", "TITLE": "DESIGNATION", "LOC": "LOCATION"},
    )
    assert [d.id for d in result.documents] == ["7", "8", "1"]
    assert spans_text(result.documents[0]) == [
        ("Sam Lee", "NAME"),
        ("QA Engineer", "DESIGNATION"),
        ("Lagos", "LOCATION"),
    ]
    assert spans_text(result.documents[2]) == [
        ("Ana Souza", "NAME"),
        ("Data Analyst", "DESIGNATION"),
        ("São Paulo", "LOCATION"),
    ]
    assert result.report.label_actions["PER"].action == "mapped"
    assert result.report.dropped_count == 0


def test_doccano_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "abc", "label": [[0, "2", "X"]]}) + "\n")
    with pytest.raises(DataError, match=r"d\.jsonl:1: label\[0\]\[1\]: not an integer"):
        read_doccano(path)
    path.write_text(json.dumps({"text": "abc", "label": ["positive"]}) + "\n")
    with pytest.raises(DataError, match=r"label\[0\]: must be \[start, end, label\]"):
        read_doccano(path)
    path.write_text(json.dumps({"text": "abc", "entities": [{"start_offset": 0}]}) + "\n")
    with pytest.raises(DataError, match=r"entities\[0\]\.end_offset: not an integer \(null\)"):
        read_doccano(path)


def test_conll_documents_and_exact_offsets(fixtures_dir: Path) -> None:
    result = import_documents(fixtures_dir / "resumes.conll")
    first, second = result.documents
    assert first.text == "John Smith\nPython , SQL developer at Initech"
    assert spans_text(first) == [
        ("John Smith", "NAME"),
        ("Python", "SKILL"),
        ("SQL", "SKILL"),
        ("Initech", "COMPANY"),
    ]
    assert second.text == "Mary Jones lives in New York"
    assert spans_text(second) == [("Mary Jones", "NAME"), ("New York", "LOCATION")]
    (repair,) = result.report.issues_of("bio_repair")
    assert repair.action == "kept"
    assert repair.source == f"{fixtures_dir / 'resumes.conll'}:19"


def test_conll_without_docstart_gives_one_document_per_sentence(fixtures_dir: Path) -> None:
    docs = read_conll(fixtures_dir / "sentences.bio")
    assert [d.text for d in docs] == ["Alice works at Umbrella Corp", "Bob left"]
    assert [(s.start, s.end, s.label) for s in docs[0].spans] == [
        (0, 5, "NAME"),
        (15, 28, "COMPANY"),
    ]


def test_conll_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.conll"
    path.write_text("John B-NAME\nSmith X-NAME\n")
    with pytest.raises(DataError, match=r"bad\.conll:2: tag: invalid BIO tag 'X-NAME'"):
        read_conll(path)
    path.write_text("John B-NAME\nlonely\n")
    with pytest.raises(DataError, match=r"bad\.conll:2: expected a token and a tag"):
        read_conll(path)


def test_native_errors_name_the_record(tmp_path: Path) -> None:
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([{"text": "ok"}, {"text": "x", "annotations": [[0, 1]]}]))
    with pytest.raises(DataError, match=r"docs\.json: \[1\]\.annotations\[0\]: must be"):
        import_documents(path)
    path.write_text(json.dumps([{"text": "x", "span": []}]))
    with pytest.raises(DataError, match=r"\[0\]\.span: unknown key"):
        import_documents(path)
    lines = tmp_path / "docs.jsonl"
    lines.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(DataError, match=r"docs\.jsonl:2: invalid JSON"):
        import_documents(lines)


def test_folders_are_expanded_and_ids_stay_unique(tmp_path: Path, fixtures_dir: Path) -> None:
    for seed in ("seed0", "seed1"):
        (tmp_path / seed).mkdir()
        shutil.copy(fixtures_dir / "annotations.json", tmp_path / seed / "train.json")
    (tmp_path / ".hidden").mkdir()
    shutil.copy(fixtures_dir / "native.jsonl", tmp_path / ".hidden" / "skip.jsonl")
    result = import_documents(tmp_path)
    # Same texts in both folders: the second copy of each document is a duplicate.
    assert [d.id for d in result.documents] == ["seed0-train-0", "seed0-train-1"]
    dupes = result.report.issues_of("duplicate_document")
    assert [i.doc_id for i in dupes] == ["seed1-train-0", "seed1-train-1"]
    assert result.report.dropped_documents == 2


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl: no such file or folder"):
        import_documents(tmp_path / "nope.jsonl")
    empty = tmp_path / "a.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="unknown format 'xml'"):
        import_documents(empty, format="xml")
    assert import_documents(empty).documents == []
