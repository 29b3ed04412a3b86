"""One entity per titled section: the text under a heading such as "SKILLS" as a single span.

Resume annotators often mark a whole section as one entity (DataTurks marks the text under
"SKILLS" as one Skills span in more than half of the resumes that have the heading), while a
windowed token classifier finds pieces of it and rarely both of its ends: strict scoring
then counts a miss and a false positive for each piece. The section's bounds are plain to
see in the text, so they are read from it: a line holding only one of the configured
headings opens the section, and it runs up to the next heading line (a line in capitals) or
the next link line. It is a decoding choice per entity type (``model.section_types``) whose
worth the accuracy benchmark measures.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from nerp_infra.documents import Entity

__all__ = ["section_entities"]

_LINE = re.compile(r"[^\n]*")
_HEADING = re.compile(r"[A-Z][A-Z &/-]{3,}:?")
"""A line that ends a section: four or more capitals (spaces, '&', '/', '-' between)."""
_LINK = re.compile(r"(?:https?://|www\.)\S*")
"""A line that ends a section: a link alone, as a resume's page footer."""


def _normal(line: str) -> str:
    return line.strip().rstrip(":").strip().casefold()


def _sections(text: str, headings: Collection[str]) -> list[tuple[int, int]]:
    """(start, end) of the text under each heading line, stripped of outer blank space."""
    wanted = {_normal(h) for h in headings}
    lines = [(m.start(), m.end()) for m in _LINE.finditer(text)]
    found: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(lines):
        if _normal(text[start:end]) not in wanted:
            continue
        first = last = None
        for line_start, line_end in lines[i + 1 :]:
            line = text[line_start:line_end].strip()
            if _HEADING.fullmatch(line) or _LINK.match(line):
                break
            if line:
                offset = len(text[line_start:line_end]) - len(text[line_start:line_end].lstrip())
                first = line_start + offset if first is None else first
                last = line_start + len(text[line_start:line_end].rstrip())
        if first is not None and last is not None:
            found.append((first, last))
    return found


def section_entities(
    text: str, entities: Sequence[Entity], headings: Mapping[str, Collection[str]]
) -> list[Entity]:
    """``entities`` sorted by position, with one entity per section under a heading of
    ``headings[type]`` in place of the entities of that type inside the section.

    Entities of other types inside the section stay only where they do not overlap the
    section entity. Its confidence is 1.0: the bounds come from the layout, not the model.
    With no ``headings`` the entities come back unchanged (sorted).
    """
    spans: list[Entity] = []
    for label, names in headings.items():
        for start, end in _sections(text, names):
            spans.append(
                Entity(text=text[start:end], label=label, start=start, end=end, confidence=1.0)
            )
    kept = [e for e in entities if not any(e.start < s.end and s.start < e.end for s in spans)]
    return sorted(kept + spans, key=lambda e: (e.start, e.end))
