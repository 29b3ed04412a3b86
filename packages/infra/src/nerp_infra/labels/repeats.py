"""One label per repeated mention: what the model found once, every other mention gets too.

A resume names the same city, title or employer several times ("Bengaluru, Karnataka" under
every job) and annotators mark each mention, but a windowed model decides each mention from
its own window and finds some of them only. Copying a predicted entity to the other
mentions of exactly the same text in the same document (label consistency, as in
Krishnan & Manning's non-local NER features) recovers those mentions. It is a decoding
choice per entity type (``model.repeat_types``): it helps types whose mentions annotators
mark every time and hurts types whose later mentions they leave out, which the accuracy
benchmark measures per type.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Collection, Iterator, Sequence

from nerp_infra.documents import Entity

__all__ = ["MIN_REPEAT_CHARS", "propagate_repeats"]

MIN_REPEAT_CHARS = 3
"""Shorter entity texts ("IT", "HR") are too often ordinary words to be copied."""


class _Occupied:
    """Character ranges already taken by an entity, sorted, for overlap checks."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        self._ranges = sorted(ranges)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_left(self._ranges, (start, end))
        before = self._ranges[i - 1] if i > 0 else None
        after = self._ranges[i] if i < len(self._ranges) else None
        return (before is not None and before[1] > start) or (after is not None and after[0] < end)

    def add(self, start: int, end: int) -> None:
        insort(self._ranges, (start, end))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # exactly what \w matches in a str pattern


def _mentions(text: str, needle: str) -> Iterator[int]:
    """Starts of ``needle`` in ``text`` at word edges, left to right, not overlapping.

    The same matches as ``re.finditer(r"(?<!\\w)" + re.escape(needle) + r"(?!\\w)", text)``
    without compiling a pattern per entity text, which cost more than the search itself.
    """
    if not needle:
        return
    at = text.find(needle)
    while at >= 0:
        end = at + len(needle)
        if (at == 0 or not _is_word_char(text[at - 1])) and (
            end == len(text) or not _is_word_char(text[end])
        ):
            yield at
            at = text.find(needle, end)
        else:
            at = text.find(needle, at + 1)


def propagate_repeats(
    text: str,
    entities: Sequence[Entity],
    types: Collection[str],
    *,
    min_chars: int = MIN_REPEAT_CHARS,
) -> list[Entity]:
    """``entities`` plus, for each entity of a type in ``types``, its other mentions.

    A mention is another occurrence of the entity's exact text (case kept) that starts and
    ends at word edges and overlaps no entity found so far; it takes the entity's label and
    confidence. Entities are visited in order of confidence, so when two predictions of one
    text disagree on the label, the surer one labels the remaining mentions. The result is
    sorted by position; with no ``types`` the entities come back unchanged.
    """
    if not types:
        return list(entities)
    occupied = _Occupied([(e.start, e.end) for e in entities])
    added: list[Entity] = []
    seen: set[str] = set()
    for entity in sorted(entities, key=lambda e: (-e.confidence, e.start)):
        if entity.label not in types or len(entity.text) < min_chars or entity.text in seen:
            continue
        seen.add(entity.text)
        for start in _mentions(text, entity.text):
            end = start + len(entity.text)
            if occupied.overlaps(start, end):
                continue
            occupied.add(start, end)
            added.append(
                Entity(
                    text=entity.text,
                    label=entity.label,
                    start=start,
                    end=end,
                    confidence=entity.confidence,
                )
            )
    return sorted([*entities, *added], key=lambda e: (e.start, e.end))
