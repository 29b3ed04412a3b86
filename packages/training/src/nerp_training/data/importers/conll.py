"""CoNLL-style BIO token files, rebuilt into text with exact character offsets.

One token per line, the token in the first column and its tag in the last (columns split
on whitespace, so CoNLL-2003's POS/chunk columns are fine); blank lines end sentences.
Tokens are joined with single spaces and sentences with newlines, so every span's
offsets point at exactly its tokens.

Documents: if the file has ``-DOCSTART-`` lines they separate documents (a resume is
many sentences); without them every sentence is a document, as in sentence-level sets.
Tags are ``O``, ``B-TYPE`` or ``I-TYPE``; an ``I-`` that does not continue an entity of
its type starts one (the usual lenient reading) and is reported as a repair.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nerp_training.data.records import DataError, Issue, RawDocument, RawSpan

__all__ = ["CONLL_SUFFIXES", "read_conll"]

CONLL_SUFFIXES = (".conll", ".conllx", ".bio", ".iob", ".iob2", ".tsv", ".txt")
DOCSTART = "-DOCSTART-"


@dataclass
class _Token:
    text: str
    tag: str
    line: int


@dataclass
class _Block:
    first_line: int
    sentences: list[list[_Token]] = field(default_factory=list)


def _blocks(path: Path) -> tuple[list[_Block], bool]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason}", path=path) from None
    has_docstart = any(line.split()[:1] == [DOCSTART] for line in lines)
    blocks: list[_Block] = []
    current: _Block | None = None
    sentence: list[_Token] = []

    def end_sentence() -> None:
        nonlocal sentence, current
        if sentence:
            if current is None:
                current = _Block(sentence[0].line)
            current.sentences.append(sentence)
            if not has_docstart:
                blocks.append(current)
                current = None
        sentence = []

    for line_no, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            end_sentence()
            continue
        if parts[0] == DOCSTART:
            end_sentence()
            if current is not None:
                blocks.append(current)
            current = _Block(line_no)
            continue
        if len(parts) < 2:
            raise DataError(
                f"expected a token and a tag separated by whitespace, got {line.strip()!r:.60}",
                path=path,
                line=line_no,
            )
        tag = parts[-1]
        prefix, _, entity_type = tag.partition("-")
        if tag != "O" and (prefix not in ("B", "I") or not entity_type):
            raise DataError(
                f"invalid BIO tag {tag!r}: expected O, B-<type> or I-<type>",
                path=path,
                line=line_no,
                field="tag",
            )
        sentence.append(_Token(parts[0], tag, line_no))
    end_sentence()
    if current is not None and current.sentences:
        blocks.append(current)
    return blocks, has_docstart


def _document(path: Path, block: _Block, doc_id: str) -> RawDocument:
    doc = RawDocument(id=doc_id, text="", source=f"{path}:{block.first_line}", file=str(path))
    pieces: list[str] = []
    offset = 0
    open_span: list[int | str] | None = None  # [start, end, type, line]

    def close() -> None:
        nonlocal open_span
        if open_span is not None:
            start, end, label, line = open_span
            doc.spans.append(RawSpan(int(start), int(end), str(label), f"line {line}"))
            open_span = None

    for s, sentence in enumerate(block.sentences):
        if s:
            pieces.append("\n")
            offset += 1
            close()
        for t, token in enumerate(sentence):
            if t:
                pieces.append(" ")
                offset += 1
            start, end = offset, offset + len(token.text)
            pieces.append(token.text)
            offset = end
            prefix, _, entity_type = token.tag.partition("-")
            if prefix == "O":
                close()
            elif prefix == "I" and open_span is not None and open_span[2] == entity_type:
                open_span[1] = end
            else:
                if prefix == "I":
                    doc.issues.append(
                        Issue(
                            doc_id,
                            "bio_repair",
                            "kept",
                            f"line {token.line}: {token.tag} does not continue an entity; "
                            "read as B-" + entity_type,
                            (start, end, entity_type),
                            f"{path}:{token.line}",
                        )
                    )
                close()
                open_span = [start, end, entity_type, token.line]
    close()
    doc.text = "".join(pieces)
    return doc


def read_conll(path: str | os.PathLike[str], *, id_prefix: str | None = None) -> list[RawDocument]:
    """Documents of a CoNLL/BIO token file; ids are ``<id_prefix>-<index>``."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    prefix = id_prefix or path.stem
    blocks, _ = _blocks(path)
    return [_document(path, block, f"{prefix}-{i}") for i, block in enumerate(blocks)]
