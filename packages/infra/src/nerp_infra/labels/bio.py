"""BIO tags per sub-word token: spans to tags for training, tags back to entities for serving.

Training and serving call these same two functions, with the offsets a fast tokenizer
reports, so the two sides cannot disagree on what a tag sequence means.

Conventions shared by both directions:

- A token whose offsets are empty (``(0, 0)`` for ``[CLS]``/``[SEP]``/padding), or whose
  ``word_id`` is ``None`` when word ids are given, is special: it gets no tag and is skipped.
- Words: with ``word_ids`` (``BatchEncoding.word_ids()``) tokens sharing an id form a word;
  without them, tokens whose offsets touch (``previous.end == start``) form a word.
- ``label_all_subtokens=False`` tags only the first token of each word; its tag stands for
  the whole word (the decoder extends an entity to the word's last token). ``True`` tags
  every token; the first token of a span gets ``B-``, the rest ``I-``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple, Protocol

from nerp_infra.documents import Entity
from nerp_infra.labels.scheme import OUTSIDE, LabelScheme, split_tag

__all__ = [
    "LabelAlignmentError",
    "Offset",
    "SpanLike",
    "decode_tags",
    "encode_spans",
    "misaligned_spans",
    "tagged_tokens",
]

Offset = tuple[int, int]


class SpanLike(Protocol):
    """Anything with a character range and a label: ``Span``, ``Entity``."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def label(self) -> str: ...


class LabelAlignmentError(ValueError):
    """Spans cannot be expressed as one BIO tag per token (overlaps, two spans in one token)."""


class _Unit(NamedTuple):
    """What gets one tag: a token, or a whole word when only first sub-tokens are tagged."""

    token: int  # the token that carries the tag
    start: int
    end: int


def _check_offsets(offsets: Sequence[Sequence[int]]) -> list[Offset]:
    checked = []
    for i, offset in enumerate(offsets):
        if len(offset) != 2:
            raise ValueError(f"offsets[{i}] must be a (start, end) pair, got {offset!r}")
        start, end = int(offset[0]), int(offset[1])
        if start < 0 or end < start:
            raise ValueError(f"offsets[{i}] {offset!r} must satisfy 0 <= start <= end")
        checked.append((start, end))
    return checked


def _units(
    offsets: Sequence[Offset],
    word_ids: Sequence[int | None] | None,
    label_all_subtokens: bool,
) -> list[_Unit]:
    """Group tokens into tagged units, in token order; special tokens belong to none."""
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
            prev_word = prev_end = None  # a special token ends any word
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


def _sorted_spans(
    spans: Sequence[SpanLike], scheme: LabelScheme | Sequence[str] | None
) -> list[SpanLike]:
    known: set[str] | None = None
    if isinstance(scheme, LabelScheme):
        known = set(scheme.entity_types)
    elif scheme is not None:
        known = set(scheme)
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for span in ordered:
        if span.end <= span.start or span.start < 0:
            raise ValueError(
                f"span ({span.start}, {span.end}, {span.label!r}) is empty or negative"
            )
        if known is not None and span.label not in known:
            raise ValueError(
                f"span ({span.start}, {span.end}, {span.label!r}) has a label outside the "
                f"scheme's entity types ({', '.join(sorted(known))})"
            )
    for first, second in pairwise(ordered):
        if second.start < first.end:
            raise LabelAlignmentError(
                f"spans ({first.start}, {first.end}, {first.label!r}) and ({second.start}, "
                f"{second.end}, {second.label!r}) overlap; BIO tags cannot represent that"
            )
    return ordered


def encode_spans(
    spans: Sequence[SpanLike],
    offsets: Sequence[Sequence[int]],
    scheme: LabelScheme | Sequence[str] | None = None,
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[str | None]:
    """One BIO tag per token for the gold ``spans``; ``None`` where the loss should ignore.

    A token (or word) is inside a span when their character ranges overlap. ``scheme``,
    when given, rejects spans whose label the model has no tags for.

    ``offsets`` may describe one window of a longer document: a span that began before the
    window's first token continues there with ``I-``, exactly as in the whole-document
    encoding, so windows and whole documents agree on every token they share. (The price:
    a span whose start lies in whitespace before the very first token is tagged ``I-``;
    trim spans on import.)

    Raises ``LabelAlignmentError`` for overlapping spans, or two spans in one token/word.
    """
    checked = _check_offsets(offsets)
    ordered = _sorted_spans(spans, scheme)
    units = _units(checked, word_ids, label_all_subtokens)
    tags: list[str | None] = [None] * len(checked)
    if not units:
        return tags
    first_char = min(unit.start for unit in units)
    starts = [s.start for s in ordered]
    ends = [s.end for s in ordered]
    opened: set[int] = set()
    kind = "token" if label_all_subtokens else "word"
    for unit in units:
        lo = bisect_right(ends, unit.start)  # first span ending after the unit starts
        hi = bisect_left(starts, unit.end)  # spans from here on start after the unit ends
        if hi - lo > 1:
            a, b = ordered[lo], ordered[lo + 1]
            raise LabelAlignmentError(
                f"spans ({a.start}, {a.end}, {a.label!r}) and ({b.start}, {b.end}, {b.label!r}) "
                f"both fall in the {kind} at characters {unit.start}-{unit.end} (token "
                f"{unit.token}); one tag cannot hold two entities"
            )
        if hi - lo < 1:
            tags[unit.token] = OUTSIDE
            continue
        span = ordered[lo]
        continues = lo in opened or span.start < first_char
        tags[unit.token] = f"{'I' if continues else 'B'}-{span.label}"
        opened.add(lo)
    return tags


def tagged_tokens(
    offsets: Sequence[Sequence[int]],
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[bool]:
    """Which tokens carry a tag: the ones ``encode_spans`` tags and ``decode_tags`` reads.

    Constrained decoding runs over exactly these, so a sub-token the model was never
    trained on cannot break an entity.
    """
    marks = [False] * len(offsets)
    for unit in _units(_check_offsets(offsets), word_ids, label_all_subtokens):
        marks[unit.token] = True
    return marks


def misaligned_spans(
    spans: Sequence[SpanLike],
    offsets: Sequence[Sequence[int]],
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[SpanLike]:
    """Spans whose edges fall inside a token (or word), so decoding cannot give them back.

    Data validation reports these: the model will learn, and predict, the widened span.
    """
    units = _units(_check_offsets(offsets), word_ids, label_all_subtokens)
    starts = {u.start for u in units}
    ends = {u.end for u in units}
    return [s for s in spans if s.start not in starts or s.end not in ends]


def _check_confidences(confidences: Sequence[float], n_tokens: int) -> list[float]:
    if len(confidences) != n_tokens:
        raise ValueError(
            f"confidences has {len(confidences)} entries but there are {n_tokens} tags"
        )
    checked = [float(c) for c in confidences]
    for i, value in enumerate(checked):
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ValueError(f"confidences[{i}] = {value!r} is not a probability in [0, 1]")
    return checked


def decode_tags(
    tags: Sequence[str | None],
    offsets: Sequence[Sequence[int]],
    text: str,
    *,
    confidences: Sequence[float] | None = None,
    word_ids: Sequence[int | None] | None = None,
    label_all_subtokens: bool = True,
    doc_offset: int = 0,
) -> list[Entity]:
    """Entities from per-token tags, with character offsets into ``text``.

    ``label_all_subtokens`` must match how the model was trained: with ``False`` only the
    first token of each word is read (the others were never trained) and an entity runs to
    the end of its last word.

    Invalid sequences are decoded leniently, like seqeval's default mode and conlleval:
    ``I-X`` after ``O``, after another type or at the start opens a new ``X`` entity
    instead of being dropped, so a model that misses one ``B-`` still yields the entity.
    ``None`` tags and special tokens are skipped without ending an entity.

    An entity spans ``[first token start, last token end)`` trimmed of surrounding
    whitespace; its confidence is the mean of ``confidences`` (probability of each chosen
    tag) over its tagged tokens, 1.0 when none are given. ``doc_offset`` is added to the
    returned offsets when ``text`` is a piece of a larger document.
    """
    checked = _check_offsets(offsets)
    if len(tags) != len(checked):
        raise ValueError(f"tags has {len(tags)} entries but offsets has {len(checked)}")
    probs = None if confidences is None else _check_confidences(confidences, len(tags))
    for i, (_, end) in enumerate(checked):
        if end > len(text):
            raise ValueError(
                f"offsets[{i}] {checked[i]} reaches past the end of the text (length {len(text)})"
            )
    entities: list[Entity] = []
    current: tuple[str, int, int, list[float]] | None = None  # type, start, end, confidences

    def close() -> None:
        if current is None:
            return
        label, start, end, scores = current
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

    for unit in _units(checked, word_ids, label_all_subtokens):
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
