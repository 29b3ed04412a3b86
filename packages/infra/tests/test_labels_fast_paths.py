"""The numpy paths of BIO decoding and window merging against the token-by-token code
they replaced.

``_reference_*`` below are the previous implementations, kept verbatim as an oracle:
on random tag sequences (invalid BIO, ``None`` tags, special tokens, odd offsets), both
sub-token policies and with or without word ids, the fast paths must give the same
entities, the same tagged tokens, the same merged predictions, and the same errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from nerp_infra.documents import Entity, Span
from nerp_infra.labels import (
    TokenPredictions,
    TokenUnits,
    WindowPrediction,
    decode_tags,
    merge_window_predictions,
    misaligned_spans,
    split_tag,
    tagged_tokens,
)

TAGS = ["O", "B-NAME", "I-NAME", "B-SKILL", "I-SKILL", None]


# --- the token-by-token implementations of nerp-infra 0.2.0, verbatim but for whole words ---


class _Unit(NamedTuple):
    token: int
    start: int
    end: int


def _reference_check_offsets(offsets: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    checked = []
    for i, offset in enumerate(offsets):
        if len(offset) != 2:
            raise ValueError(f"offsets[{i}] must be a (start, end) pair, got {offset!r}")
        start, end = int(offset[0]), int(offset[1])
        if start < 0 or end < start:
            raise ValueError(f"offsets[{i}] {offset!r} must satisfy 0 <= start <= end")
        checked.append((start, end))
    return checked


def _reference_units(
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None] | None,
    label_all_subtokens: bool,
) -> list[_Unit]:
    if word_ids is not None and len(word_ids) != len(offsets):
        raise ValueError(
            f"word_ids has {len(word_ids)} entries but offsets has {len(offsets)}; "
            "they must describe the same tokens"
        )
    units: list[_Unit] = []
    prev_word: int | None = None
    prev_end: int | None = None
    for i, (start, end) in enumerate(offsets):
        word = None if word_ids is None else word_ids[i]
        if end <= start or (word_ids is not None and word is None):
            prev_word = prev_end = None
            continue
        if word_ids is not None:
            same_word = prev_word is not None and word == prev_word
        else:
            same_word = prev_end is not None and start == prev_end
        prev_word, prev_end = word, end
        if same_word and not label_all_subtokens:
            last = units[-1]
            units[-1] = _Unit(last.token, last.start, max(last.end, end))
        else:
            units.append(_Unit(i, start, end))
    return units


def _reference_tagged_tokens(
    offsets: Sequence[Sequence[int]],
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[bool]:
    marks = [False] * len(offsets)
    for unit in _reference_units(_reference_check_offsets(offsets), word_ids, label_all_subtokens):
        marks[unit.token] = True
    return marks


def _reference_misaligned(
    spans: Sequence[Span],
    offsets: Sequence[Sequence[int]],
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[Span]:
    units = _reference_units(_reference_check_offsets(offsets), word_ids, label_all_subtokens)
    starts = {u.start for u in units}
    ends = {u.end for u in units}
    return [s for s in spans if s.start not in starts or s.end not in ends]


def _reference_word_edges(
    offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]
) -> list[tuple[int, int]]:
    """Each token's word as (start of its first token, furthest end of its tokens): the
    edges that decoding with every sub-token tagged widens entities to (nerp-infra 0.3)."""
    runs: list[list[int]] = []
    prev_word: int | None = None
    for i, (start, end) in enumerate(offsets):
        word = word_ids[i]
        special = end <= start or word is None
        if special or word != prev_word or not runs:
            runs.append([i])
        else:
            runs[-1].append(i)
        prev_word = None if special else word
    edges = [(0, 0)] * len(offsets)
    for run in runs:
        edge = (offsets[run[0]][0], max(offsets[i][1] for i in run))
        for i in run:
            edges[i] = edge
    return edges


def _reference_check_confidences(confidences: Sequence[float], n_tokens: int) -> list[float]:
    if len(confidences) != n_tokens:
        raise ValueError(
            f"confidences has {len(confidences)} entries but there are {n_tokens} tags"
        )
    checked = [float(c) for c in confidences]
    for i, value in enumerate(checked):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"confidences[{i}] = {value!r} is not a probability in [0, 1]")
    return checked


def _reference_decode_tags(
    tags: Sequence[str | None],
    offsets: Sequence[Sequence[int]],
    text: str,
    *,
    confidences: Sequence[float] | None = None,
    word_ids: Sequence[int | None] | None = None,
    label_all_subtokens: bool = True,
    doc_offset: int = 0,
) -> list[Entity]:
    checked = _reference_check_offsets(offsets)
    if len(tags) != len(checked):
        raise ValueError(f"tags has {len(tags)} entries but offsets has {len(checked)}")
    probs = None if confidences is None else _reference_check_confidences(confidences, len(tags))
    for i, (_, end) in enumerate(checked):
        if end > len(text):
            raise ValueError(
                f"offsets[{i}] {checked[i]} reaches past the end of the text (length {len(text)})"
            )
    entities: list[Entity] = []
    current: tuple[str, int, int, list[float]] | None = None

    def close() -> None:
        if current is None:
            return
        label, start, end, scores = current
        if entities:  # nerp-infra 0.3: a word split between two entities stays with the first
            start = max(start, entities[-1].end - doc_offset)
        piece = text[start:end]
        stripped = piece.lstrip()
        start += len(piece) - len(stripped)
        end = start + len(stripped.rstrip())
        if end <= start:
            return
        confidence = min(1.0, math.fsum(scores) / len(scores)) if scores else 1.0
        entities.append(
            Entity(
                text=text[start:end],
                label=label,
                start=start + doc_offset,
                end=end + doc_offset,
                confidence=confidence,
            )
        )

    units = _reference_units(checked, word_ids, label_all_subtokens)
    if label_all_subtokens and word_ids is not None:  # nerp-infra 0.3: whole words
        edges = _reference_word_edges(checked, word_ids)
        units = [_Unit(u.token, *edges[u.token]) for u in units]
    for unit in units:
        tag = tags[unit.token]
        if tag is None:
            continue
        prefix, entity_type = split_tag(tag)
        score = [] if probs is None else [probs[unit.token]]
        if entity_type is None:
            if current is not None:
                close()
                current = None
        elif prefix == "I" and current is not None and current[0] == entity_type:
            current[3].extend(score)
            current = (entity_type, current[1], unit.end, current[3])
        else:
            close()
            current = (entity_type, unit.start, unit.end, score)
    close()
    return entities


def _reference_merge(windows: Sequence[WindowPrediction], n_tokens: int) -> TokenPredictions:
    total = n_tokens
    tags: list[str | None] = [None] * total
    confidences = [0.0] * total
    best = [-1.0] * total
    for window in sorted(windows, key=lambda w: (w.start, w.end)):
        if window.end > total:
            raise ValueError(
                f"window [{window.start}, {window.end}) reaches past the document's {total} tokens"
            )
        left_open = window.start > 0
        right_open = window.end < total
        for offset, token in enumerate(range(window.start, window.end)):
            left = token - window.start if left_open else math.inf
            right = window.end - 1 - token if right_open else math.inf
            score = min(left, right)
            if score > best[token]:
                best[token] = score
                tags[token] = window.tags[offset]
                confidences[token] = float(window.confidences[offset])
    uncovered = [i for i, score in enumerate(best) if score < 0]
    if uncovered:
        raise ValueError(
            f"token {uncovered[0]} is covered by no window ({len(uncovered)} tokens uncovered); "
            "windows must cover the whole document"
        )
    return TokenPredictions(tags, confidences)


# --- generated documents ---


class Case(NamedTuple):
    text: str
    offsets: list[tuple[int, int]]
    word_ids: list[int | None] | None
    tags: list[str | None]
    confidences: list[float] | None
    label_all_subtokens: bool


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Tokens as a fast tokenizer reports them, plus specials, empty and overlapping offsets,
    word ids that skip, repeat or go missing, and tags in any order (invalid BIO included)."""
    text = draw(st.text(alphabet="ab \n", max_size=40))
    offsets: list[tuple[int, int]] = []
    word_ids: list[int | None] = []
    position, word = 0, 0
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["next", "next", "touch", "special", "any"]))
        if kind == "special":
            offsets.append((0, 0))
            word_ids.append(None)
            continue
        if kind == "any":  # tokenizers never do this; the rules must still hold
            start = draw(st.integers(0, len(text)))
            offsets.append((start, draw(st.integers(start, len(text)))))
        else:
            start = min(position + (kind == "next") * draw(st.integers(0, 2)), len(text))
            offsets.append((start, min(start + draw(st.integers(0, 3)), len(text))))
        position = offsets[-1][1]
        word += draw(st.sampled_from([0, 0, 1, 2]))
        word_ids.append(draw(st.sampled_from([word, word, None])))
    n = len(offsets)
    tags = draw(st.lists(st.sampled_from(TAGS), min_size=n, max_size=n))
    confidences = draw(st.none() | st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    return Case(
        text,
        offsets,
        draw(st.none() | st.just(word_ids)),
        tags,
        confidences,
        draw(st.booleans()),
    )


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """A call's result, or the type and message of what it raised, to compare two calls."""
    try:
        return "returned", call()
    except Exception as exc:  # any error: the two must raise the same one
        return type(exc).__name__, str(exc)


@settings(max_examples=400, deadline=None)  # equality, not speed: no deadline under load
@given(case=cases(), doc_offset=st.integers(0, 5))
def test_fast_decoding_matches_the_token_by_token_decoder(case: Case, doc_offset: int) -> None:
    policy = {"label_all_subtokens": case.label_all_subtokens, "word_ids": case.word_ids}
    expected = _reference_decode_tags(
        case.tags,
        case.offsets,
        case.text,
        confidences=case.confidences,
        doc_offset=doc_offset,
        **policy,
    )
    assert expected == decode_tags(
        case.tags,
        case.offsets,
        case.text,
        confidences=case.confidences,
        doc_offset=doc_offset,
        **policy,
    )
    units = TokenUnits(case.offsets, **policy)
    assert expected == units.decode(
        case.tags, case.text, confidences=case.confidences, doc_offset=doc_offset
    )
    marks = _reference_tagged_tokens(case.offsets, **policy)
    assert marks == tagged_tokens(case.offsets, **policy) == units.tagged.tolist()
    spans = [*(e.to_span() for e in expected), Span(start=0, end=1, label="NAME")]
    assert _reference_misaligned(spans, case.offsets, **policy) == misaligned_spans(
        spans, case.offsets, **policy
    )


@settings(deadline=None)
@given(case=cases(), data=st.data())
def test_fast_decoding_raises_what_the_token_by_token_decoder_raised(
    case: Case, data: st.DataObject
) -> None:
    offsets: list[Any] = list(case.offsets)
    tags: list[Any] = list(case.tags)
    confidences: list[Any] | None = case.confidences
    word_ids = case.word_ids
    text = case.text
    for fault in data.draw(st.sets(st.sampled_from(range(7)), min_size=1)):
        position = data.draw(st.integers(0, len(offsets)))
        if fault == 0:
            offsets.insert(position, data.draw(st.sampled_from([(3, 1), (-1, 2), (1, 2, 3)])))
        elif fault == 1:
            offsets[position:position] = [(1.0, 2.5)]  # floats: the old int() conversion
        elif fault == 2:
            tags.insert(position, data.draw(st.sampled_from(["X-NAME", "B-", "o", "O"])))
        elif fault == 3 and word_ids is not None:
            word_ids = [*word_ids, 0]
        elif fault == 4:
            confidences = [*(confidences or [0.5] * len(tags))]
            confidences[position:position] = [data.draw(st.sampled_from([1.5, math.nan, -0.1]))]
        elif fault == 5:
            text = text[: data.draw(st.integers(0, len(text)))]
        elif fault == 6:
            offsets.append((len(text), len(text) + 1))
            tags.append("B-NAME")
    policy = {"label_all_subtokens": case.label_all_subtokens, "word_ids": word_ids}
    expected = _outcome(
        lambda: _reference_decode_tags(tags, offsets, text, confidences=confidences, **policy)
    )
    assert expected == _outcome(
        lambda: decode_tags(tags, offsets, text, confidences=confidences, **policy)
    )
    assert _outcome(lambda: _reference_tagged_tokens(offsets, **policy)) == _outcome(
        lambda: tagged_tokens(offsets, **policy)
    )


@st.composite
def window_sets(draw: st.DrawFn) -> tuple[list[WindowPrediction], int]:
    """Usually a chain of overlapping windows covering the document, plus windows in any
    layout (nested, repeated, past the end), shuffled; not only ``plan_windows``' layout."""
    n_tokens = draw(st.integers(0, 25))
    ranges: list[tuple[int, int]] = []
    start = 0
    while draw(st.integers(0, 9)) and start < n_tokens:
        end = draw(st.integers(start + 1, n_tokens))
        ranges.append((start, end))
        start = draw(st.integers(start + 1, end))
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, n_tokens + 1))
        ranges.append((start, draw(st.integers(start + 1, n_tokens + 2))))
    windows = []
    for start, end in ranges:
        size = end - start
        tags = draw(st.lists(st.sampled_from(TAGS), min_size=size, max_size=size))
        confidences = draw(st.lists(st.floats(0.0, 1.0), min_size=size, max_size=size))
        windows.append(WindowPrediction(start, end, tags, confidences))
    return draw(st.permutations(windows)), n_tokens


@settings(max_examples=300, deadline=None)
@given(case=window_sets())
def test_fast_merge_matches_the_token_by_token_merge(
    case: tuple[list[WindowPrediction], int],
) -> None:
    windows, n_tokens = case
    assert _outcome(lambda: _reference_merge(windows, n_tokens)) == _outcome(
        lambda: merge_window_predictions(windows, n_tokens)
    )
