from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from nerp_infra.documents import (
    Document,
    DocumentError,
    Entity,
    Span,
    iter_documents,
    overlapping_spans,
    read_documents,
    write_documents,
)

# --- models --------------------------------------------------------------------------


def test_span_is_frozen_and_hashable() -> None:
    span = Span(start=0, end=4, label="NAME")
    with pytest.raises(ValidationError):
        span.start = 1
    assert {span, Span(start=0, end=4, label="NAME")} == {span}
    assert span.as_tuple() == (0, 4, "NAME")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": 3, "end": 3, "label": "X"}, "must be greater than start"),
        ({"start": 4, "end": 2, "label": "X"}, "must be greater than start"),
        ({"start": -1, "end": 2, "label": "X"}, "greater than or equal to 0"),
        ({"start": 0, "end": 2, "label": ""}, "at least 1 character"),
        ({"start": 0, "end": 2, "label": "  "}, "must not be blank"),
        ({"start": True, "end": 2, "label": "X"}, "valid integer"),
        ({"start": "0", "end": 2, "label": "X"}, "valid integer"),
        ({"start": 0, "end": 2, "label": "X", "score": 1}, "Extra inputs"),
    ],
)
def test_span_rejects_bad_fields(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Span.model_validate(fields)


def test_document_rejects_span_past_text_naming_doc_and_span() -> None:
    with pytest.raises(ValidationError) as info:
        Document(
            id="cv-7",
            text="Ann Lee",
            spans=[Span(start=0, end=3, label="NAME"), Span(start=4, end=9, label="NAME")],
        )
    message = str(info.value)
    assert "'cv-7'" in message
    assert "spans[1] [4, 9, 'NAME']" in message
    assert "length 7" in message


def test_document_span_text_and_empty_id() -> None:
    doc = Document(id="a", text="Ann Lee, Python", spans=[Span(start=9, end=15, label="SKILL")])
    assert doc.span_text(doc.spans[0]) == "Python"
    with pytest.raises(ValidationError, match="at least 1 character"):
        Document(id="", text="x")


def test_entity_validates_confidence_and_converts_to_span() -> None:
    entity = Entity(text="Ann", label="NAME", start=0, end=3, confidence=0.75)
    assert entity.to_span() == Span(start=0, end=3, label="NAME")
    assert entity.model_dump() == {
        "text": "Ann",
        "label": "NAME",
        "start": 0,
        "end": 3,
        "confidence": 0.75,
    }
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        Entity(text="Ann", label="NAME", start=0, end=3, confidence=1.5)
    with pytest.raises(ValidationError, match="greater than start"):
        Entity(text="", label="NAME", start=3, end=3, confidence=0.5)


def test_overlapping_spans_lists_each_pair() -> None:
    a = Span(start=0, end=10, label="EXPERIENCE")
    b = Span(start=2, end=5, label="COMPANY")
    c = Span(start=5, end=8, label="DESIGNATION")
    d = Span(start=10, end=12, label="SKILL")
    assert overlapping_spans([d, c, b, a]) == [(a, b), (a, c)]
    assert overlapping_spans([b, c, d]) == []


# --- reading -------------------------------------------------------------------------


def _write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_reads_native_and_annotation_forms_from_jsonl(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "resumes.jsonl",
        json.dumps(
            {"id": "r1", "text": "Ann Lee", "spans": [{"start": 0, "end": 7, "label": "NAME"}]}
        )
        + "\n\n"  # blank lines are skipped
        + json.dumps({"text": "Knows Go", "annotations": [[6, 8, "SKILL"]]})
        + "\n"
        + json.dumps({"id": 17, "text": "no labels"})
        + "\n",
    )
    docs = read_documents(path)
    assert [d.id for d in docs] == ["r1", "resumes-1", "17"]
    assert docs[0].spans == [Span(start=0, end=7, label="NAME")]
    assert docs[1].spans == [Span(start=6, end=8, label="SKILL")]
    assert docs[1].span_text(docs[1].spans[0]) == "Go"
    assert docs[2].spans == []


def test_reads_json_list_and_single_object(tmp_path: Path) -> None:
    listed = _write(
        tmp_path / "train.json",
        json.dumps([{"text": "a b", "annotations": [[0, 1, "X"]]}, {"id": "z", "text": "c"}]),
    )
    assert [d.id for d in read_documents(listed)] == ["train-0", "z"]
    single = _write(tmp_path / "one.json", json.dumps({"text": "Ann", "spans": []}))
    assert read_documents(single) == [Document(id="one-0", text="Ann")]


def test_iter_documents_streams(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "big.jsonl",
        "\n".join(json.dumps({"text": f"doc {i}"}) for i in range(3)) + "\nnot json\n",
    )
    stream = iter_documents(path)
    assert next(stream).text == "doc 0"  # read before the bad line is reached
    with pytest.raises(DocumentError, match="line 4"):
        list(stream)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("d.jsonl", '{"text": "a"}\n{"text": \n', r"d\.jsonl, line 2: invalid JSON"),
        ("d.json", '[{"text": "a"},\n oops]', r"d\.json, line 2: invalid JSON: .* \(column 2\)"),
        ("d.json", '"just a string"', "top level must be a list of records or one record"),
        ("d.jsonl", "[1, 2]\n", "line 1: a document must be a JSON object, got a list"),
        ("d.jsonl", '{"spans": []}\n', "line 1, field 'text': is required"),
        ("d.jsonl", '{"text": "a", "span": []}\n', "field 'span': unknown key"),
        ("d.jsonl", '{"text": 5}\n', "field 'text': must be a string, got a number"),
        (
            "d.jsonl",
            '{"text": "a", "spans": [], "annotations": []}\n',
            "has both 'spans' and 'annotations'",
        ),
        (
            "d.jsonl",
            '{"text": "abc", "spans": [{"start": 0, "end": 2, "label": "X"}, '
            '{"start": 2, "end": 2, "label": "X"}]}\n',
            r"line 1, field 'spans\[1\]': end \(2\) must be greater than start",
        ),
        (
            "d.jsonl",
            '{"text": "abc", "spans": [{"start": 0, "end": "2", "label": "X"}]}\n',
            r"field 'spans\[0\]\.end': not an integer \(a string\)",
        ),
        (
            "d.jsonl",
            '{"id": "cv", "text": "abc", "spans": [{"start": 0, "end": 9, "label": "X"}]}\n',
            r"field 'spans': document 'cv': spans\[0\] \[0, 9, 'X'\] ends past the end",
        ),
        (
            "d.json",
            '[{"text": "abc"}, {"text": "abc", "annotations": [[0, 2]]}]',
            r"index 1, field 'annotations\[0\]': must be \[start, end, label\]",
        ),
        (
            "d.json",
            '[{"text": "abc", "annotations": [[0, 2, "X"], [2, 1, "Y"]]}]',
            r"index 0, field 'annotations\[1\]': end \(1\) must be greater",
        ),
        (
            "d.json",
            '[{"text": "abc", "annotations": [[-2, 1, "X"]]}]',
            r"field 'annotations\[0\]': start: Input should be greater than or equal to 0",
        ),
        ("d.json", '[{"text": "abc", "annotations": {"a": 1}}]', "must be a list of"),
        (
            "d.jsonl",
            '{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n',
            r"line 2, field 'id': duplicate document id 'a' \(first at line 1\)",
        ),
        (
            "d.jsonl",
            '{"id": true, "text": "x"}\n',
            "field 'id': must be a non-empty string or an integer, got a boolean",
        ),
        (
            "d.jsonl",
            '{"text": "abc", "spans": [{"start": -1, "end": 2, "label": "X"}]}\n',
            r"field 'spans\[0\]\.start': Input should be greater than or equal to 0",
        ),
        ("d.jsonl", '{"text": "abc", "spans": [{"start": 0}]}\n', r"spans\[0\]\.end': not an"),
        ("d.jsonl", '{"text": "a", "spans": ["x"]}\n', r"'spans\[0\]': must be an object"),
        ("d.txt", "hello", r"unsupported file type '\.txt'"),
    ],
)
def test_bad_files_name_file_location_field_and_reason(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(DocumentError, match=expected) as info:
        read_documents(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DocumentError, match="not UTF-8"):
        read_documents(path)


def test_document_error_keeps_its_parts() -> None:
    error = DocumentError("bad", path="x.jsonl", location="line 3", field="text")
    assert (error.path, error.location, error.field, error.reason) == (
        "x.jsonl",
        "line 3",
        "text",
        "bad",
    )
    assert str(error) == "x.jsonl, line 3, field 'text': bad"


# --- writing -------------------------------------------------------------------------


def test_write_is_native_and_atomic(tmp_path: Path) -> None:
    docs = [Document(id="a", text="Ann Lee", spans=[Span(start=0, end=7, label="NAME")])]
    target = tmp_path / "out" / "docs.jsonl"
    assert write_documents(docs, target) == target
    assert json.loads(target.read_text(encoding="utf-8")) == {
        "id": "a",
        "text": "Ann Lee",
        "spans": [{"start": 0, "end": 7, "label": "NAME"}],
    }
    assert os.listdir(target.parent) == ["docs.jsonl"]  # no temp file left behind


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "docs.json"
    write_documents([Document(id="a", text="old")], target)
    before = target.read_bytes()
    with pytest.raises(DocumentError, match="duplicate document id 'b'"):
        write_documents([Document(id="b", text="1"), Document(id="b", text="2")], target)
    # Documents refuse lone surrogates; one built without validation fails mid-write.
    unwritable = Document.model_construct(id="c", text="lone \ud800 surrogate", spans=[])
    with pytest.raises(UnicodeEncodeError):
        write_documents([unwritable], target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["docs.json"]


def test_write_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="unsupported file type"):
        write_documents([], tmp_path / "docs.csv")


@st.composite
def documents(draw: st.DrawFn) -> list[Document]:
    count = draw(st.integers(0, 4))
    ids = draw(
        st.lists(
            st.text(min_size=1, max_size=6).filter(str.strip),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    docs = []
    for doc_id in ids:
        text = draw(st.text(max_size=30))
        cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=6)))
        spans = [
            Span(start=a, end=b, label=draw(st.sampled_from(["NAME", "SKILL", "Job title"])))
            for a, b in zip(cuts[::2], cuts[1::2], strict=False)
        ]
        docs.append(Document(id=doc_id, text=text, spans=spans))
    return docs


@given(docs=documents(), suffix=st.sampled_from([".json", ".jsonl"]))
def test_documents_round_trip(docs: list[Document], suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"docs{suffix}"
        write_documents(docs, path)
        assert read_documents(path) == docs
        write_documents(read_documents(path), path)  # rewriting is stable
        assert read_documents(path) == docs


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"text": "Jane \ud800 Doe"}, "text"),
        ({"id": "\udcff", "text": "Jane Doe"}, "id"),
        (
            {"text": "Jane Doe", "spans": [{"start": 0, "end": 4, "label": "N\udc80"}]},
            "spans[0].label",
        ),
    ],
)
def test_unencodable_strings_name_file_line_and_field(
    tmp_path: Path, record: dict[str, object], field: str
) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok"}\n' + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_documents(path)
    assert caught.value.location == "line 2" and caught.value.field == field
    assert "lone surrogate" in caught.value.reason


def test_a_blank_document_id_is_refused_as_the_readers_refuse_it() -> None:
    with pytest.raises(ValueError, match="must not be blank"):
        Document(id="  ", text="x")
