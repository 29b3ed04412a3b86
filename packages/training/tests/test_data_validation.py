"""Validation: every check, the action it takes, and the report that records it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from nerp_infra.documents import Document, Span, overlapping_spans
from nerp_training.data import DataError, RawDocument, RawSpan, validate_documents
from nerp_training.data.validation import token_offsets


def raw(text: str, *spans: tuple[int, int, str], doc_id: str = "d") -> RawDocument:
    return RawDocument(id=doc_id, text=text, spans=[RawSpan(s, e, lab) for s, e, lab in spans])


def kept(doc: Document) -> list[tuple[str, str]]:
    return [(doc.text[s.start : s.end], s.label) for s in doc.spans]


def test_clean_documents_pass_untouched() -> None:
    doc = Document(id="a", text="Ada Lovelace", spans=[Span(start=0, end=3, label="NAME")])
    clean, report = validate_documents([doc], labels=["NAME"])
    assert clean == [doc]
    assert report.issues == []
    assert (report.documents_in, report.documents_out, report.spans_out) == (1, 1, 1)
    assert report.spans_per_type == {"NAME": 1}


def test_out_of_bounds_and_empty_spans_are_dropped() -> None:
    clean, report = validate_documents(
        [raw("short", (0, 5, "A"), (2, 9, "A"), (-1, 2, "A"), (3, 3, "A"), (4, 2, "A"))]
    )
    assert kept(clean[0]) == [("short", "A")]
    assert report.issue_counts() == {
        "empty_span": {"dropped": 2},
        "out_of_bounds": {"dropped": 2},
    }
    assert report.dropped_count == 4


def test_whitespace_is_trimmed_and_blank_spans_dropped() -> None:
    text = "  Jane Doe \n\n   "
    clean, report = validate_documents([raw(text, (0, 11, "NAME"), (11, 16, "NAME"))])
    assert kept(clean[0]) == [("Jane Doe", "NAME")]
    (trim,) = report.issues_of("trimmed")
    assert trim.action == "trimmed"
    assert trim.span == (0, 11, "NAME")
    assert "now [2, 10)" in trim.reason
    assert [i.action for i in report.issues_of("whitespace_only")] == ["dropped"]
    assert report.trimmed_count == 1


def test_trimming_happens_before_overlap_detection() -> None:
    # Two spans that only share a newline are not an overlap once trimmed.
    text = "Acme Corp\nAustin"
    clean, report = validate_documents([raw(text, (0, 10, "COMPANY"), (9, 16, "LOCATION"))])
    assert kept(clean[0]) == [("Acme Corp", "COMPANY"), ("Austin", "LOCATION")]
    assert report.issues_of("overlap") == []


OVERLAPPING = "Senior Data Engineer"
# "Senior Data" [0, 11) starts first; "Data Engineer" [7, 20) is longer.
PARTIAL = [(0, 11, "DESIGNATION"), (7, 20, "DESIGNATION")]


def test_keep_longest_keeps_the_longer_span() -> None:
    clean, report = validate_documents([raw(OVERLAPPING, *PARTIAL)], overlap_policy="keep_longest")
    assert kept(clean[0]) == [("Data Engineer", "DESIGNATION")]
    (issue,) = report.issues_of("overlap")
    assert issue.action == "dropped"
    assert issue.span == (0, 11, "DESIGNATION")
    assert "kept by keep_longest" in issue.reason


def test_keep_first_keeps_the_earlier_span() -> None:
    clean, report = validate_documents([raw(OVERLAPPING, *PARTIAL)], overlap_policy="keep_first")
    assert kept(clean[0]) == [("Senior Data", "DESIGNATION")]
    assert report.issues_of("overlap")[0].span == (7, 20, "DESIGNATION")


def test_nested_spans_are_reported_as_nested() -> None:
    text = "civil engineering"
    clean, report = validate_documents([raw(text, (6, 17, "EDU"), (0, 17, "EDU"))])
    assert kept(clean[0]) == [("civil engineering", "EDU")]
    (issue,) = report.issues_of("nested")
    assert issue.span == (6, 17, "EDU")
    assert "nested with [0, 17) EDU" in issue.reason


def test_error_policy_reports_every_overlap_then_raises() -> None:
    docs = [
        raw(OVERLAPPING, *PARTIAL, doc_id="x"),
        raw("ab cd", (0, 5, "A"), (3, 5, "B"), doc_id="y"),
    ]
    with pytest.raises(DataError, match=r"2 overlapping or nested span\(s\)") as info:
        validate_documents(docs, overlap_policy="error")
    report = info.value.report
    assert [(i.doc_id, i.kind, i.action) for i in report.issues] == [
        ("x", "overlap", "error"),
        ("y", "nested", "error"),
    ]


def test_unknown_overlap_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="overlap_policy must be one of"):
        validate_documents([], overlap_policy="keep_all")


def test_label_mapping_renames_merges_and_drops() -> None:
    text = "Jane BSc MIT 2010 x"
    doc = raw(
        text,
        (0, 4, "Name"),
        (5, 8, "Degree"),
        (9, 12, "College Name"),
        (13, 17, "Graduation Year"),
        (18, 19, "Mystery"),
    )
    mapping = {
        "Name": "NAME",
        "Degree": "EDUCATION",
        "College Name": "EDUCATION",
        "Graduation Year": None,
    }
    clean, report = validate_documents([doc], labels=["NAME", "EDUCATION"], label_mapping=mapping)
    assert kept(clean[0]) == [("Jane", "NAME"), ("BSc", "EDUCATION"), ("MIT", "EDUCATION")]
    actions = {k: (v.action, v.to, v.count) for k, v in report.label_actions.items()}
    assert actions == {
        "Name": ("mapped", "NAME", 1),
        "Degree": ("mapped", "EDUCATION", 1),
        "College Name": ("mapped", "EDUCATION", 1),
        "Graduation Year": ("dropped", None, 1),
        "Mystery": ("dropped", None, 1),
    }
    assert [i.kind for i in report.issues] == ["label_dropped", "unknown_label"]
    assert report.spans_per_type == {"NAME": 1, "EDUCATION": 2}


def test_without_a_label_set_every_mapped_label_is_kept() -> None:
    clean, report = validate_documents(
        [raw("ab", (0, 1, "X"), (1, 2, "Y"))], label_mapping={"X": "Z"}
    )
    assert kept(clean[0]) == [("a", "Z"), ("b", "Y")]
    assert report.label_actions["Y"].action == "kept"


def test_a_mapping_onto_a_label_outside_the_set_drops() -> None:
    _, report = validate_documents([raw("ab", (0, 1, "X"))], labels=["A"], label_mapping={"X": "B"})
    assert report.label_actions["X"].reason == "'B' not in label set"
    assert report.dropped_count == 1


def test_duplicate_spans_documents_and_ids() -> None:
    docs = [
        raw("Jane Doe", (0, 4, "NAME"), (0, 4, "NAME"), doc_id="a"),
        raw("Jane Doe", (0, 4, "NAME"), doc_id="b"),
        raw("John Roe", (0, 4, "NAME"), doc_id="a"),
        raw("   ", doc_id="c"),
    ]
    clean, report = validate_documents(docs)
    assert [d.id for d in clean] == ["a", "a-2"]
    assert [(i.doc_id, i.kind, i.action) for i in report.issues] == [
        ("a", "duplicate_span", "dropped"),
        ("b", "duplicate_document", "dropped"),
        ("a", "duplicate_id", "renamed"),
        ("c", "empty_document", "dropped"),
    ]
    assert "same text as document 'a'" in report.issues[1].reason
    assert (report.dropped_spans, report.dropped_documents) == (1, 2)
    assert report.documents_out == 2


def test_token_boundaries_with_a_trained_wordpiece(wordpiece_tokenizer: Any) -> None:
    text = "Senior engineer at Acme"
    doc = raw(text, (7, 15, "DESIGNATION"), (7, 11, "DESIGNATION"), (19, 23, "COMPANY"))
    # Overlap resolution would drop the short span; check it separately.
    clean, report = validate_documents(
        [raw(text, (7, 11, "DESIGNATION"), (19, 23, "COMPANY"))], tokenizer=wordpiece_tokenizer
    )
    (issue,) = report.issues_of("token_boundary")
    assert issue.span == (7, 11, "DESIGNATION")
    assert issue.action == "kept"
    assert issue.reason.startswith("end inside a token")
    assert kept(clean[0]) == [("engi", "DESIGNATION"), ("Acme", "COMPANY")]
    _, aligned = validate_documents([doc], tokenizer=wordpiece_tokenizer)
    assert aligned.issues_of("token_boundary") == []
    assert aligned.tokenizer == "WordPiece"


def test_token_offsets_ignore_truncation_and_accept_callables(wordpiece_tokenizer: Any) -> None:
    from tokenizers import Tokenizer

    truncating = Tokenizer.from_str(wordpiece_tokenizer.to_str())
    truncating.enable_truncation(max_length=2)
    text = "Senior engineer at Acme"
    assert token_offsets(truncating, text) == [(0, 6), (7, 15), (16, 18), (19, 23)]
    assert truncating.truncation is not None  # the caller's tokenizer is left as it was
    assert token_offsets(lambda t: [(0, 7), (7, 15)], "Senior engineer") == [(0, 6), (7, 15)]


def test_report_to_dict_is_json_and_render_lists_issues() -> None:
    _, report = validate_documents(
        [raw("  Jane  ", (0, 8, "NAME"), (2, 3, "ODD"))], labels=["NAME"]
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["dropped_count"] == 1
    assert data["trimmed_count"] == 1
    assert data["spans_per_type"] == {"NAME": 1}
    assert data["issue_counts"] == {"trimmed": {"trimmed": 1}, "unknown_label": {"dropped": 1}}
    assert data["issues"][0]["span"] == [0, 8, "NAME"]
    console = Console(record=True, width=200)
    console.print(report.render())
    out = console.export_text()
    assert "unknown_label" in out
    assert "not in label set and not mapped" in out
    assert "spans in → out" in out


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet="ab \n", max_size=30),
    spans=st.lists(
        st.tuples(
            st.integers(min_value=-3, max_value=35),
            st.integers(min_value=-3, max_value=35),
            st.sampled_from(["A", "B", "C", ""]),
        ),
        max_size=8,
    ),
    policy=st.sampled_from(["keep_longest", "keep_first"]),
)
def test_whatever_comes_in_clean_spans_come_out(
    text: str, spans: list[tuple[int, int, str]], policy: str
) -> None:
    clean, report = validate_documents(
        [raw(text, *spans)], labels=["A", "B"], overlap_policy=policy
    )
    out = clean[0].spans if clean else []
    assert not overlapping_spans(out)
    for span in out:
        piece = text[span.start : span.end]
        assert piece
        assert piece == piece.strip()
        assert span.label in {"A", "B"}
    if clean:
        dropped = report.dropped_spans
        assert report.spans_in == len(spans)
        assert report.spans_out == len(out) == len(spans) - dropped
