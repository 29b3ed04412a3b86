"""Property tests: the encoder and decoder are inverses, and windows do not change the answer."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from nerp_infra.documents import Span
from nerp_infra.labels import (
    LabelScheme,
    WindowPrediction,
    decode_tags,
    encode_spans,
    merge_window_predictions,
    plan_windows,
)

TYPES = ["NAME", "SKILL", "Job title"]
SCHEME = LabelScheme(TYPES)
SPECIAL = (0, 0)


@dataclass(frozen=True)
class Tokenized:
    """A generated text with fast-tokenizer-like offsets (no special tokens) and gold spans."""

    text: str
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]
    spans: list[Span]


@st.composite
def tokenized_docs(
    draw: st.DrawFn, *, label_all_subtokens: bool, separated_words: bool, max_words: int = 10
) -> Tokenized:
    """Words of 1-3 sub-tokens; spans cover whole tokens (or whole words when only first
    sub-tokens are tagged), which is what a decoder can give back exactly."""
    pieces = st.text(alphabet="abXY9,.é-", min_size=1, max_size=3)
    separators = [" ", "  ", "\n", "\t "] + ([] if separated_words else [""])
    text = draw(st.sampled_from(["", " "]))
    offsets: list[tuple[int, int]] = []
    word_ids: list[int | None] = []
    for word in range(draw(st.integers(0, max_words))):
        if word:
            text += draw(st.sampled_from(separators))
        for _ in range(draw(st.integers(1, 3))):
            piece = draw(pieces)
            offsets.append((len(text), len(text) + len(piece)))
            word_ids.append(word)
            text += piece
    text += draw(st.sampled_from(["", " ", "\n"]))

    # Units that can start/end a span: tokens, or whole words.
    units: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(offsets):
        if not label_all_subtokens and i and word_ids[i] == word_ids[i - 1]:
            units[-1] = (units[-1][0], end)
        else:
            units.append((start, end))
    spans: list[Span] = []
    current: tuple[int, int, str] | None = None
    for start, end in units:
        action = draw(st.sampled_from(["O", "B", "I"] if current else ["O", "B"]))
        if action != "I" and current:
            spans.append(Span(start=current[0], end=current[1], label=current[2]))
            current = None
        if action == "B":
            current = (start, end, draw(st.sampled_from(TYPES)))
        elif action == "I" and current:
            current = (current[0], end, current[2])
    if current:
        spans.append(Span(start=current[0], end=current[1], label=current[2]))
    return Tokenized(text, offsets, word_ids, spans)


def _with_specials(doc: Tokenized) -> tuple[list[tuple[int, int]], list[int | None]]:
    return [SPECIAL, *doc.offsets, SPECIAL], [None, *doc.word_ids, None]


def _check_round_trip(doc: Tokenized, *, label_all_subtokens: bool, use_word_ids: bool) -> None:
    offsets, word_ids = _with_specials(doc)
    wids = word_ids if use_word_ids else None
    tags = encode_spans(
        doc.spans, offsets, SCHEME, label_all_subtokens=label_all_subtokens, word_ids=wids
    )
    assert tags[0] is None
    assert tags[-1] is None
    if label_all_subtokens:
        assert all(tag is not None for tag in tags[1:-1])
    else:  # exactly the first token of each word carries a tag
        firsts = [i for i in range(1, len(tags) - 1) if word_ids[i] != word_ids[i - 1]]
        assert [i for i, tag in enumerate(tags) if tag is not None] == firsts
    SCHEME.tags_to_ids(tags)  # every tag is in the scheme

    entities = decode_tags(
        tags, offsets, doc.text, word_ids=wids, label_all_subtokens=label_all_subtokens
    )
    assert [e.to_span() for e in entities] == doc.spans
    assert [e.text for e in entities] == [doc.text[s.start : s.end] for s in doc.spans]
    assert all(e.confidence == 1.0 for e in entities)


@given(doc=tokenized_docs(label_all_subtokens=True, separated_words=False))
def test_decode_inverts_encode_all_subtokens(doc: Tokenized) -> None:
    # Without word ids any token edge is an entity edge.
    _check_round_trip(doc, label_all_subtokens=True, use_word_ids=False)


@given(doc=tokenized_docs(label_all_subtokens=False, separated_words=False))
def test_decode_inverts_encode_all_subtokens_on_whole_words(doc: Tokenized) -> None:
    # With word ids entities are whole words, so spans on word edges come back exactly.
    _check_round_trip(doc, label_all_subtokens=True, use_word_ids=True)


@given(doc=tokenized_docs(label_all_subtokens=False, separated_words=False))
def test_decode_inverts_encode_first_subtoken_with_word_ids(doc: Tokenized) -> None:
    _check_round_trip(doc, label_all_subtokens=False, use_word_ids=True)


@given(doc=tokenized_docs(label_all_subtokens=False, separated_words=True))
def test_decode_inverts_encode_first_subtoken_from_touching_offsets(doc: Tokenized) -> None:
    # Without word ids, words are runs of touching tokens: here words are space-separated.
    _check_round_trip(doc, label_all_subtokens=False, use_word_ids=False)


@given(
    n_tokens=st.integers(0, 60),
    max_tokens=st.integers(1, 12),
    data=st.data(),
)
def test_windows_cover_every_token_and_overlap_by_stride(
    n_tokens: int, max_tokens: int, data: st.DataObject
) -> None:
    stride = data.draw(st.integers(0, max_tokens - 1))
    windows = plan_windows(n_tokens, max_tokens, stride)
    covered = [t for start, end in windows for t in range(start, end)]
    assert set(covered) == set(range(n_tokens))
    if n_tokens:
        assert windows[0][0] == 0
        assert windows[-1][1] == n_tokens
    for (start, end), (next_start, _) in pairwise(windows):
        assert end - start == max_tokens  # only the last window may be short
        assert end - next_start == stride
    assert all(0 < end - start <= max_tokens for start, end in windows)


@st.composite
def windowed_docs(draw: st.DrawFn) -> tuple[Tokenized, bool, int, int]:
    label_all_subtokens = draw(st.booleans())
    doc = draw(
        tokenized_docs(label_all_subtokens=label_all_subtokens, separated_words=False, max_words=14)
    )
    max_tokens = draw(st.integers(1, 8))
    stride = draw(st.integers(0, max_tokens - 1))
    return doc, label_all_subtokens, max_tokens, stride


def _window_predictions(
    doc: Tokenized,
    label_all_subtokens: bool,
    windows: list[tuple[int, int]],
    data: st.DataObject,
    stride: int,
) -> list[WindowPrediction]:
    """Each window encoded on its own, as training does (specials around each window), with
    garbage where a window lacks context: its tokens fewer than ``stride // 2`` from an inner
    edge. The max-context rule never picks those tokens from that window."""
    n = len(doc.offsets)
    blind = stride // 2
    predictions = []
    for start, end in windows:
        offsets = [SPECIAL, *doc.offsets[start:end], SPECIAL]
        word_ids = [None, *doc.word_ids[start:end], None]
        tags = encode_spans(
            doc.spans, offsets, label_all_subtokens=label_all_subtokens, word_ids=word_ids
        )[1:-1]
        for i in range(len(tags)):
            token = start + i
            near_left = start > 0 and token - start < blind
            near_right = end < n and end - 1 - token < blind
            if near_left or near_right:
                tags[i] = data.draw(st.sampled_from(SCHEME.labels))
        confidences = data.draw(
            st.lists(st.floats(0.0, 1.0), min_size=len(tags), max_size=len(tags))
        )
        predictions.append(WindowPrediction(start, end, tags, confidences))
    return predictions


@given(case=windowed_docs(), data=st.data())
def test_merged_windows_decode_to_the_gold_spans(
    case: tuple[Tokenized, bool, int, int], data: st.DataObject
) -> None:
    doc, label_all_subtokens, max_tokens, stride = case
    n = len(doc.offsets)
    windows = plan_windows(n, max_tokens, stride)
    predictions = _window_predictions(doc, label_all_subtokens, windows, data, stride)
    shuffled = data.draw(st.permutations(predictions))
    tags, confidences = merge_window_predictions(shuffled, n_tokens=n)

    if label_all_subtokens:  # windows agree with the whole-document encoding, token by token
        assert tags == encode_spans(doc.spans, doc.offsets, label_all_subtokens=True)
    entities = decode_tags(
        tags,
        doc.offsets,
        doc.text,
        confidences=confidences,
        # the spans end on token edges: with every sub-token tagged and word ids, decoding
        # would widen them to whole words (test_decode_inverts_encode_all_subtokens_on_whole_words)
        word_ids=None if label_all_subtokens else doc.word_ids,
        label_all_subtokens=label_all_subtokens,
    )
    # Each gold span exactly once: none duplicated, none cut at a seam.
    assert [e.to_span() for e in entities] == doc.spans
    assert all(0.0 <= e.confidence <= 1.0 for e in entities)
