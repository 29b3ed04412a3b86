"""Importers: foreign annotation files to native documents, with a validation report.

``import_documents`` is the one entry point the CLI and the dataset stage use: it reads
every file in its format (detected or given), then runs
:func:`~nerp_training.data.validation.validate_documents` over all of them together so
duplicates across files are caught and the label mapping is applied once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nerp_infra.documents import Document
from nerp_training.data.importers._records import JSON_SUFFIXES, peek_record
from nerp_training.data.importers.conll import CONLL_SUFFIXES, read_conll
from nerp_training.data.importers.dataturks import DATATURKS_RESUME_MAPPING, read_dataturks
from nerp_training.data.importers.doccano import read_doccano
from nerp_training.data.importers.label_studio import read_label_studio
from nerp_training.data.importers.native import read_native
from nerp_training.data.records import DataError, RawDocument
from nerp_training.data.validation import ValidationReport, validate_documents

__all__ = [
    "DATATURKS_RESUME_MAPPING",
    "FORMATS",
    "Format",
    "ImportResult",
    "detect_format",
    "expand_paths",
    "import_documents",
    "read_conll",
    "read_dataturks",
    "read_doccano",
    "read_label_studio",
    "read_native",
    "read_raw",
]

Format = Literal["native", "dataturks", "doccano", "label-studio", "conll"]
FORMATS: tuple[str, ...] = ("auto", "native", "dataturks", "doccano", "label-studio", "conll")

_READERS: dict[str, Callable[..., list[RawDocument]]] = {
    "native": read_native,
    "dataturks": read_dataturks,
    "doccano": read_doccano,
    "label-studio": read_label_studio,
    "conll": read_conll,
}


@dataclass
class ImportResult:
    """Clean documents, the report of what cleaning took, and each file's format."""

    documents: list[Document]
    report: ValidationReport
    formats: dict[str, str] = field(default_factory=dict)


def detect_format(path: str | os.PathLike[str]) -> Format:
    """Tell a file's format from its suffix and the keys of its first record."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CONLL_SUFFIXES:
        return "conll"
    if suffix not in JSON_SUFFIXES:
        raise DataError(
            f"cannot tell the format of a {suffix or 'suffix-less'!r} file; use .json/.jsonl "
            f"or a CoNLL suffix ({', '.join(CONLL_SUFFIXES)}), or pass the format",
            path=path,
        )
    first = peek_record(path)
    if first is None:
        return "native"
    if not isinstance(first, dict):
        raise DataError("cannot tell the format: the first record is not an object", path=path)
    keys = set(first)
    if isinstance(first.get("data"), dict) and keys & {"annotations", "predictions", "completions"}:
        return "label-studio"
    if "content" in keys or "annotation" in keys:
        return "dataturks"
    if "entities" in keys or "label" in keys:
        return "doccano"
    if keys & {"text", "spans", "annotations"}:
        return "native"
    raise DataError(
        f"cannot tell the format from the keys {sorted(keys)}; expected native "
        "(text + spans/annotations), DataTurks (content + annotation) or doccano "
        "(text + label/entities) or Label Studio (data + annotations/predictions)",
        path=path,
    )


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, plus every data file (JSON, JSONL, CoNLL) under given folders."""
    suffixes = set(JSON_SUFFIXES) | set(CONLL_SUFFIXES)
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise DataError("folder holds no .json, .jsonl or CoNLL files", path=path)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError("no such file or folder", path=path)
    if not files:
        raise DataError("no input files given")
    return files


def _id_prefixes(files: Sequence[Path]) -> dict[Path, str]:
    """File stems, or folder-qualified names when stems repeat (seed0/train, seed1/train)."""
    stems = [f.stem for f in files]
    if len(set(stems)) == len(stems):
        return {f: f.stem for f in files}
    base = Path(os.path.commonpath([f.absolute().parent for f in files]))
    return {f: "-".join(f.absolute().with_suffix("").relative_to(base).parts) for f in files}


def read_raw(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    id_prefix: str | None = None,
    use_predictions: bool = False,
) -> tuple[list[RawDocument], Format]:
    """One file's documents, unvalidated, and the format they were read as.

    ``use_predictions`` applies to formats that carry model predictions besides
    annotations (Label Studio): a task without an annotation takes its predictions.
    """
    path = Path(path)
    if format not in FORMATS:
        raise DataError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    resolved: Any = detect_format(path) if format == "auto" else format
    if resolved == "label-studio":
        return read_label_studio(
            path, id_prefix=id_prefix, use_predictions=use_predictions
        ), resolved
    return _READERS[resolved](path, id_prefix=id_prefix), resolved


def import_documents(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    format: str = "auto",
    label_mapping: Mapping[str, str | None] | None = None,
    labels: Sequence[str] | None = None,
    overlap_policy: str = "keep_longest",
    tokenizer: Any = None,
    use_predictions: bool = False,
) -> ImportResult:
    """Read files (or folders of them) and return validated native documents.

    ``format`` applies to every file (``auto`` detects each one). ``labels`` is the
    target entity-type set (``None`` keeps every mapped label); see
    :func:`~nerp_training.data.validation.validate_documents` for the rest.
    ``use_predictions``: see :func:`read_raw`.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files = expand_paths(paths)
    prefixes = _id_prefixes(files)
    raw: list[RawDocument] = []
    formats: dict[str, str] = {}
    for file in files:
        docs, fmt = read_raw(
            file, format=format, id_prefix=prefixes[file], use_predictions=use_predictions
        )
        formats[str(file)] = fmt
        raw.extend(docs)
    documents, report = validate_documents(
        raw,
        labels=labels,
        overlap_policy=overlap_policy,
        label_mapping=label_mapping,
        tokenizer=tokenizer,
    )
    for file in files:
        if str(file) not in report.sources:
            report.sources.append(str(file))
    return ImportResult(documents=documents, report=report, formats=formats)
