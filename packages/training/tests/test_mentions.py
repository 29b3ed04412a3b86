"""Training-data treatments of mentions: replacement copies and unmarked repeats."""

from __future__ import annotations

from typing import Any

import pytest

from nerp_infra.documents import Document, Span
from nerp_infra.labels import LabelScheme
from nerp_training.backbones import build_tokenizer, resolve_backbone
from nerp_training.data.alignment import encode_documents, unmarked_mentions
from nerp_training.data.augment import replace_mentions

SCHEME = LabelScheme(["COMPANY", "LOCATION"])


def _doc(doc_id: str, text: str, marks: list[tuple[str, str, int]]) -> Document:
    """Spans by (text, label, occurrence): the n-th occurrence of text in the document."""
    spans = []
    for piece, label, nth in marks:
        start = -1
        for _ in range(nth + 1):
            start = text.index(piece, start + 1)
        spans.append(Span(start=start, end=start + len(piece), label=label))
    return Document(id=doc_id, text=text, spans=spans)


A = _doc(
    "a",
    "Engineer at Infosys Limited, Pune.\nLead at Infosys Limited, Pune.",
    [("Infosys Limited", "COMPANY", 0), ("Pune", "LOCATION", 0), ("Pune", "LOCATION", 1)],
)
B = _doc("b", "Analyst, Tata Consultancy Services - Chennai", [
    ("Tata Consultancy Services", "COMPANY", 0), ("Chennai", "LOCATION", 0)])  # fmt: skip


def test_unmarked_mentions_are_the_repeats_annotators_left_out() -> None:
    ranges = unmarked_mentions(A)
    assert [A.text[s:e] for s, e in ranges] == ["Infosys Limited"]
    assert ranges[0][0] == A.text.index("Infosys Limited", 20)
    assert unmarked_mentions(B) == []


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return build_tokenizer(
        resolve_backbone("tiny"), texts=[A.text, B.text] * 20, vocab_size=200, max_length=64
    )


def test_ignoring_unmarked_mentions_removes_only_their_loss(tokenizer: Any) -> None:
    (plain,) = encode_documents([A], tokenizer, SCHEME, label_all_subtokens=True)
    (ignored,) = encode_documents(
        [A], tokenizer, SCHEME, label_all_subtokens=True, ignore_unmarked=True
    )
    assert plain.tags is not None and ignored.tags is not None
    start, end = unmarked_mentions(A)[0]
    inside = [i for i, (a, b) in enumerate(plain.offsets) if a < end and b > start]
    assert inside and all(plain.tags[i] == "O" for i in inside)
    assert all(ignored.tags[i] is None for i in inside)
    outside = [i for i in range(len(plain.tags)) if i not in inside]
    assert [plain.tags[i] for i in outside] == [ignored.tags[i] for i in outside]
    assert any(str(plain.tags[i]).startswith("B-COMPANY") for i in outside)


def test_replaced_mentions_keep_context_labels_and_consistency() -> None:
    copies = replace_mentions([A, B], 2, seed=3)
    assert [d.id for d in copies] == ["a#mentions1", "b#mentions1", "a#mentions2", "b#mentions2"]
    pool = {"COMPANY": {"Infosys Limited", "Tata Consultancy Services"},
            "LOCATION": {"Pune", "Chennai"}}  # fmt: skip
    for doc in copies:
        source = A if doc.id.startswith("a") else B
        assert [s.label for s in doc.spans] == [s.label for s in source.spans]
        for span in doc.spans:
            assert doc.text[span.start : span.end] in pool[span.label]
        # the text between mentions is the original context, unchanged
        assert doc.text.startswith(source.text[: source.spans[0].start])
        assert doc.text.endswith(source.text[source.spans[-1].end :])
    a_copy = copies[0]
    pune = [a_copy.text[s.start : s.end] for s in a_copy.spans if s.label == "LOCATION"]
    assert len(set(pune)) == 1  # one text, one replacement, wherever it is mentioned


def test_replacements_vary_and_repeat_with_the_seed() -> None:
    docs = [A, B]
    texts = {d.text for seed in range(20) for d in replace_mentions(docs, 1, seed=seed)}
    assert len(texts) > 2  # mentions really change across seeds
    assert replace_mentions(docs, 1, seed=7) == replace_mentions(docs, 1, seed=7)
    assert replace_mentions(docs, 0, seed=7) == []
    assert replace_mentions([Document(id="x", text="no entities")], 1, seed=7) == []
