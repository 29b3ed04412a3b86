"""Mention replacement: more training documents from the same annotations.

A fine-tuned encoder on a hundred resumes learns the names it saw ("Infosys", "Bengaluru")
as much as the contexts that make them entities, and then misses an employer it never met.
Replacing each annotated mention with another mention of the same type taken from the
other training documents (Dai & Adel, 2020: "mention replacement") keeps every context and
boundary convention of the annotators and varies only the entity's words, so the model has
to read the context. Every mention of one text in a document gets the same replacement, as
a resume repeats its employer under every job.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from nerp_infra.documents import Document, Span

__all__ = ["replace_mentions"]


def _pool(docs: Sequence[Document]) -> dict[str, list[str]]:
    """Distinct mention texts per type, in first-seen order (deterministic for a seed)."""
    seen: dict[str, dict[str, None]] = {}
    for doc in docs:
        for span in doc.spans:
            seen.setdefault(span.label, {})[doc.text[span.start : span.end]] = None
    return {label: list(texts) for label, texts in seen.items()}


def _replaced(doc: Document, pool: dict[str, list[str]], rng: random.Random, copy: int) -> Document:
    choice: dict[tuple[str, str], str] = {}
    pieces: list[str] = []
    spans: list[Span] = []
    cursor = 0
    length = 0
    for span in sorted(doc.spans, key=lambda s: (s.start, s.end)):
        original = doc.text[span.start : span.end]
        key = (span.label, original)
        if key not in choice:
            choice[key] = rng.choice(pool[span.label])
        new = choice[key]
        between = doc.text[cursor : span.start]
        pieces += [between, new]
        start = length + len(between)
        spans.append(Span(start=start, end=start + len(new), label=span.label))
        length = start + len(new)
        cursor = span.end
    pieces.append(doc.text[cursor:])
    return Document(id=f"{doc.id}#mentions{copy}", text="".join(pieces), spans=spans)


def replace_mentions(docs: Sequence[Document], copies: int, *, seed: int) -> list[Document]:
    """``copies`` new versions of each document that has spans, mentions replaced.

    Replacements come from ``docs`` only (never from evaluation documents). Documents
    without spans have nothing to vary and get no copy; overlapping spans are not
    expected (import resolves them).
    """
    if copies < 1:
        return []
    pool = _pool(docs)
    rng = random.Random(seed)
    return [
        _replaced(doc, pool, rng, copy)
        for copy in range(1, copies + 1)
        for doc in docs
        if doc.spans
    ]
