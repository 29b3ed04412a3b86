"""Tokenisation, span alignment and windows: every entity kept, seams handled, HF's cuts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from nerp_infra.documents import Document, Span
from nerp_infra.labels import (
    IGNORE_INDEX,
    LabelScheme,
    WindowPrediction,
    decode_tags,
    merge_window_predictions,
    misaligned_spans,
)
from nerp_training.backbones import build_tokenizer, resolve_backbone
from nerp_training.data import SYNTH_LABELS, DataError
from nerp_training.data.alignment import (
    backend_tokenizer,
    document_windows,
    encode_documents,
    special_tokens,
    tokenize_documents,
)

SCHEME = LabelScheme(list(SYNTH_LABELS))
MAX_LENGTH = 40
STRIDE = 8


@pytest.fixture(scope="module")
def docs(resumes: list[Document]) -> list[Document]:
    return resumes[:24]


@pytest.fixture(scope="module")
def tokenizer(docs: list[Document]) -> Any:
    return build_tokenizer(
        resolve_backbone("tiny"),
        texts=[d.text for d in docs],
        vocab_size=600,
        max_length=MAX_LENGTH,
    )


def _windows(docs: list[Document], tokenizer: Any, *, label_all: bool = False) -> list[Any]:
    return tokenize_documents(
        docs,
        tokenizer,
        SCHEME,
        max_length=MAX_LENGTH,
        stride=STRIDE,
        label_all_subtokens=label_all,
    )


def test_windows_cover_each_document_and_overlap_by_stride(
    docs: list[Document], tokenizer: Any
) -> None:
    encoded = encode_documents(docs, tokenizer, SCHEME, label_all_subtokens=False)
    windows = _windows(docs, tokenizer)
    special = special_tokens(tokenizer)
    assert special.prefix == (tokenizer.cls_token_id,)
    assert special.suffix == (tokenizer.sep_token_id,)
    for doc in encoded:
        mine = [w for w in windows if w.doc_index == doc.doc_index]
        assert len(mine) > 1, "resumes must be longer than one window for this test"
        assert mine[0].token_start == 0
        assert mine[-1].token_end == doc.n_tokens
        for before, after in itertools.pairwise(mine):
            assert after.token_start == before.token_end - STRIDE
        for window in mine:
            assert len(window.input_ids) <= MAX_LENGTH
            assert window.input_ids[0] == tokenizer.cls_token_id
            assert window.input_ids[-1] == tokenizer.sep_token_id
            content = window.input_ids[1:-1]
            assert content == list(doc.input_ids[window.token_start : window.token_end])
            assert window.offsets == list(doc.offsets[window.token_start : window.token_end])
            assert window.doc_id == doc.doc_id
            assert window.attention_mask == [1] * len(window.input_ids)


def test_windows_are_the_cuts_hugging_face_overflow_makes(
    docs: list[Document], tokenizer: Any
) -> None:
    """Serving and training cut like ``return_overflowing_tokens``, so pretrained tooling agrees."""
    windows = _windows(docs, tokenizer)
    for index, doc in enumerate(docs[:6]):
        hf = tokenizer(
            doc.text,
            max_length=MAX_LENGTH,
            stride=STRIDE,
            truncation=True,
            return_overflowing_tokens=True,
        )["input_ids"]
        assert [w.input_ids for w in windows if w.doc_index == index] == hf


def test_window_labels_are_the_whole_document_tags(docs: list[Document], tokenizer: Any) -> None:
    encoded = encode_documents(docs, tokenizer, SCHEME, label_all_subtokens=False)
    label2id = SCHEME.label2id
    for window in _windows(docs, tokenizer):
        doc = encoded[window.doc_index]
        assert doc.tags is not None
        expected = [
            IGNORE_INDEX if tag is None else label2id[tag]
            for tag in doc.tags[window.token_start : window.token_end]
        ]
        assert window.labels == [IGNORE_INDEX, *expected, IGNORE_INDEX]


def test_every_entity_survives_windowing(docs: list[Document], tokenizer: Any) -> None:
    """Gold labels of all windows, merged back, decode to every (token-aligned) span."""
    encoded = encode_documents(docs, tokenizer, SCHEME, label_all_subtokens=False)
    windows = _windows(docs, tokenizer)
    labels = SCHEME.labels
    checked = 0
    for doc, enc in zip(docs, encoded, strict=True):
        mine = [w for w in windows if w.doc_index == enc.doc_index]
        predictions = [
            WindowPrediction(
                w.token_start,
                w.token_end,
                [None if i == IGNORE_INDEX else labels[i] for i in w.labels[1:-1]],
                [1.0] * w.n_content,
            )
            for w in mine
        ]
        merged = merge_window_predictions(predictions, enc.n_tokens)
        decoded = decode_tags(
            merged.tags, enc.offsets, doc.text, word_ids=enc.word_ids, label_all_subtokens=False
        )
        got = {(e.start, e.end, e.label) for e in decoded}
        misaligned = set(misaligned_spans(doc.spans, enc.offsets, label_all_subtokens=False))
        wanted = {s.as_tuple() for s in doc.spans if s not in misaligned}
        assert wanted <= got
        checked += len(wanted)
    assert checked > 200


def test_an_entity_across_a_window_seam_is_one_entity() -> None:
    words = [f"w{i}" for i in range(14)]
    words[5:9] = ["Senior", "Data", "Platform", "Engineer"]  # tokens 5..8
    text = " ".join(words)
    start = text.index("Senior")
    end = text.index("Engineer") + len("Engineer")
    doc = Document(id="seam", text=text, spans=[Span(start=start, end=end, label="DESIGNATION")])
    tokenizer = build_tokenizer(
        resolve_backbone("tiny"), texts=[text], vocab_size=200, max_length=10
    )
    scheme = LabelScheme(["DESIGNATION"])
    windows = tokenize_documents(
        [doc], tokenizer, scheme, max_length=10, stride=2, label_all_subtokens=False
    )
    # 8 content tokens per window, 2 shared: windows start at tokens 0, 6, 12
    assert [(w.token_start, w.token_end) for w in windows] == [(0, 8), (6, 14)]
    b, i, o = scheme.label2id["B-DESIGNATION"], scheme.label2id["I-DESIGNATION"], 0
    first, second = (w.labels[1:-1] for w in windows)
    assert first == [o, o, o, o, o, b, i, i]
    assert second == [i, i, i, o, o, o, o, o]  # continues: no second B- at the seam

    merged = merge_window_predictions(
        [
            WindowPrediction(
                w.token_start,
                w.token_end,
                [scheme.labels[x] for x in w.labels[1:-1]],
                [1.0] * w.n_content,
            )
            for w in windows
        ],
        14,
    )
    (enc,) = encode_documents([doc], tokenizer, label_all_subtokens=False)
    entities = decode_tags(
        merged.tags, enc.offsets, text, word_ids=enc.word_ids, label_all_subtokens=False
    )
    assert [(e.start, e.end, e.label) for e in entities] == [(start, end, "DESIGNATION")]


def test_sub_tokens_are_ignored_or_labelled_as_configured() -> None:
    text = "Skills: Kubernetesology and Go"
    start = text.index("Kubernetesology")
    doc = Document(id="sub", text=text, spans=[Span(start=start, end=start + 15, label="SKILL")])
    tokenizer = build_tokenizer(
        resolve_backbone("tiny"),
        texts=["Skills and Go: kube rnetes ology"],  # its letters, not the word
        vocab_size=80,
        max_length=64,
    )
    scheme = LabelScheme(["SKILL"])
    (enc,) = encode_documents([doc], tokenizer, scheme, label_all_subtokens=False)
    pieces = [i for i, w in enumerate(enc.word_ids) if w == enc.word_ids[2]]
    assert len(pieces) > 2, "the unseen word must split into several sub-tokens"
    assert enc.tags is not None
    assert enc.tags[pieces[0]] == "B-SKILL"
    assert all(enc.tags[p] is None for p in pieces[1:])
    (every,) = encode_documents([doc], tokenizer, scheme, label_all_subtokens=True)
    assert every.tags is not None
    assert [every.tags[p] for p in pieces] == ["B-SKILL"] + ["I-SKILL"] * (len(pieces) - 1)
    (window,) = tokenize_documents(
        [doc], tokenizer, scheme, max_length=64, stride=4, label_all_subtokens=False
    )
    assert [window.labels[1 + p] for p in pieces[1:]] == [IGNORE_INDEX] * (len(pieces) - 1)


def test_overlapping_spans_name_the_document(tokenizer: Any) -> None:
    doc = Document.model_construct(
        id="bad-7",
        text="John Smith Python",
        spans=[Span(start=0, end=10, label="NAME"), Span(start=5, end=17, label="SKILL")],
    )
    with pytest.raises(DataError, match=r"document 'bad-7'.*overlap"):
        _windows([doc], tokenizer)


def test_window_must_leave_room_beyond_the_stride(docs: list[Document], tokenizer: Any) -> None:
    with pytest.raises(ValueError, match=r"max_length 10 leaves 8 content tokens.*stride 8"):
        tokenize_documents(
            docs[:1], tokenizer, SCHEME, max_length=10, stride=8, label_all_subtokens=False
        )


def test_a_document_without_tokens_has_no_window(tokenizer: Any) -> None:
    encoded = encode_documents(
        [Document(id="blank", text="  \n ")], tokenizer, SCHEME, label_all_subtokens=False
    )
    assert encoded[0].n_tokens == 0
    windows = document_windows(
        encoded, max_length=MAX_LENGTH, stride=STRIDE, special=special_tokens(tokenizer)
    )
    assert windows == []


def test_a_truncating_tokenizer_does_not_cut_documents(
    docs: list[Document], tokenizer: Any
) -> None:
    from tokenizers import Tokenizer

    truncating = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    truncating.enable_truncation(max_length=5)
    full = encode_documents(docs[:1], tokenizer, label_all_subtokens=False)[0]
    again = encode_documents(docs[:1], truncating, label_all_subtokens=False)[0]
    assert again.input_ids == full.input_ids
    assert full.n_tokens > 5
    assert backend_tokenizer(truncating).truncation is None


def test_slow_tokenizers_are_refused() -> None:
    with pytest.raises(TypeError, match="fast tokenizer"):
        backend_tokenizer(object())
