"""Turn imported documents into clean ones, and say exactly what that took.

A model trained on silently repaired data is hard to trust: the report lists every span
that was trimmed, realigned, relabelled or dropped, with the document and the reason, so
a user can check the importer's decisions against the source (and ``--strict`` can refuse
data that lost anything).

Order of the checks, per document: bounds, whitespace trimming, the label mapping and
label set, exact duplicates, overlaps (resolved by the configured policy), then token
boundaries for a given tokenizer; across documents: duplicate ids and duplicate texts.
Trimming comes before overlap detection because many "overlaps" in hand-annotated
resumes are only shared newlines.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nerp_infra.documents import Document, Span
from nerp_training.data.records import DataError, Issue, RawDocument, RawSpan

__all__ = [
    "OVERLAP_POLICIES",
    "LabelAction",
    "OverlapPolicy",
    "ValidationReport",
    "load_tokenizer",
    "token_offsets",
    "validate_documents",
]

OverlapPolicy = Literal["keep_longest", "keep_first", "error"]
OVERLAP_POLICIES: tuple[OverlapPolicy, ...] = ("keep_longest", "keep_first", "error")

_DROPPED_SPAN_KINDS = frozenset(
    {
        "out_of_bounds",
        "empty_span",
        "whitespace_only",
        "unlabelled",
        "label_dropped",
        "unknown_label",
        "duplicate_span",
        "overlap",
        "nested",
    }
)
_DOCUMENT_KINDS = frozenset({"duplicate_document", "empty_document", "unannotated"})


@dataclass
class LabelAction:
    """What happened to every span of one source label."""

    action: Literal["kept", "mapped", "dropped"]
    to: str | None
    count: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationReport:
    """Counts and findings of one validation pass; ``to_dict`` is what gets saved."""

    overlap_policy: str = "keep_longest"
    labels: list[str] | None = None
    tokenizer: str | None = None
    sources: list[str] = field(default_factory=list)
    documents_in: int = 0
    documents_out: int = 0
    spans_in: int = 0
    spans_out: int = 0
    source_labels: Counter[str] = field(default_factory=Counter)
    spans_per_type: Counter[str] = field(default_factory=Counter)
    label_actions: dict[str, LabelAction] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def dropped_spans(self) -> int:
        return sum(
            1 for i in self.issues if i.action == "dropped" and i.kind in _DROPPED_SPAN_KINDS
        )

    @property
    def dropped_documents(self) -> int:
        return sum(1 for i in self.issues if i.action == "dropped" and i.kind in _DOCUMENT_KINDS)

    @property
    def dropped_count(self) -> int:
        """Spans plus documents that did not make it into the output (``--strict`` fails on >0)."""
        return sum(1 for i in self.issues if i.action == "dropped")

    @property
    def trimmed_count(self) -> int:
        return sum(1 for i in self.issues if i.action == "trimmed")

    def issue_counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {action: n}}``, the shape of the summary table."""
        counts: dict[str, Counter[str]] = {}
        for issue in self.issues:
            counts.setdefault(issue.kind, Counter())[issue.action] += 1
        return {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())}

    def issues_of(self, kind: str) -> list[Issue]:
        return [issue for issue in self.issues if issue.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overlap_policy": self.overlap_policy,
            "labels": self.labels,
            "tokenizer": self.tokenizer,
            "sources": list(self.sources),
            "documents_in": self.documents_in,
            "documents_out": self.documents_out,
            "spans_in": self.spans_in,
            "spans_out": self.spans_out,
            "dropped_count": self.dropped_count,
            "dropped_spans": self.dropped_spans,
            "dropped_documents": self.dropped_documents,
            "trimmed_count": self.trimmed_count,
            "source_labels": dict(sorted(self.source_labels.items())),
            "spans_per_type": dict(sorted(self.spans_per_type.items())),
            "label_actions": {k: v.to_dict() for k, v in sorted(self.label_actions.items())},
            "issue_counts": self.issue_counts(),
            "issues": [issue.to_dict() for issue in self.issues],
        }

    def render(self, max_examples: int = 3) -> RenderableType:
        """Rich tables: totals, labels (source → target), issues with a few examples each."""
        totals = Table(title="Validation", show_header=False)
        totals.add_column("what", style="bold")
        totals.add_column("value", justify="right")
        totals.add_row("documents in → out", f"{self.documents_in} → {self.documents_out}")
        totals.add_row("spans in → out", f"{self.spans_in} → {self.spans_out}")
        totals.add_row("spans trimmed", str(self.trimmed_count))
        totals.add_row("spans dropped", str(self.dropped_spans))
        totals.add_row("documents dropped", str(self.dropped_documents))
        totals.add_row("overlap policy", self.overlap_policy)
        if self.tokenizer:
            totals.add_row("tokenizer", self.tokenizer)

        labels = Table(title="Labels")
        labels.add_column("source label")
        labels.add_column("spans", justify="right")
        labels.add_column("action")
        labels.add_column("type")
        labels.add_column("kept spans", justify="right")
        for name, act in sorted(self.label_actions.items()):
            target = act.to or ""
            kept = self.spans_per_type.get(target, 0) if act.to else 0
            action = act.action + (f" ({act.reason})" if act.reason else "")
            labels.add_row(name or "(none)", str(act.count), action, target, str(kept))

        issues = Table(title="Issues")
        issues.add_column("kind")
        issues.add_column("action")
        issues.add_column("count", justify="right")
        issues.add_column("examples")
        by_key: dict[tuple[str, str], list[Issue]] = {}
        for issue in self.issues:
            by_key.setdefault((issue.kind, issue.action), []).append(issue)
        for (kind, action), found in sorted(by_key.items()):
            examples = "\n".join(_describe(issue) for issue in found[:max_examples])
            issues.add_row(kind, action, str(len(found)), examples)
        parts: list[RenderableType] = [totals, labels]
        parts.append(issues if self.issues else Text("No issues found."))
        return Group(*parts)


def _describe(issue: Issue) -> str:
    where = os.path.basename(issue.source) if issue.source else issue.doc_id
    span = "" if issue.span is None else f" [{issue.span[0]}, {issue.span[1]}) {issue.span[2]}"
    return f"{where}{span}: {issue.reason}"


# --- tokenizers ------------------------------------------------------------------------

OffsetsFn = Callable[[str], Sequence[tuple[int, int]]]


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` file or a folder holding one."""
    from tokenizers import Tokenizer

    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise DataError(
            "no tokenizer.json here (pass a fast tokenizer's tokenizer.json or its folder)",
            path=path,
        )
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:
        raise DataError(f"cannot load tokenizer: {exc}", path=file) from exc


def _offsets_function(tokenizer: Any) -> OffsetsFn:
    backend = getattr(tokenizer, "backend_tokenizer", None)  # transformers fast tokenizers
    if backend is not None:
        tokenizer = backend
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "to_str"):
        if tokenizer.truncation is not None or tokenizer.padding is not None:
            # A truncating copy would cut long resumes short and flag every later span.
            tokenizer = type(tokenizer).from_str(tokenizer.to_str())
            tokenizer.no_truncation()
            tokenizer.no_padding()
        tok = tokenizer

        def offsets(text: str) -> Sequence[tuple[int, int]]:
            encoding = tok.encode(text, add_special_tokens=False)
            return [tuple(o) for o in encoding.offsets]

        return offsets
    if callable(tokenizer):
        fn: OffsetsFn = tokenizer
        return fn
    raise TypeError(
        "tokenizer must be a tokenizers.Tokenizer, a transformers fast tokenizer or a "
        f"function text -> [(start, end)], got {type(tokenizer).__name__}"
    )


def token_offsets(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    """Character offsets of the tokens of ``text``, with surrounding whitespace removed.

    Byte-level BPE tokenizers count the space before a word into the token; stripping it
    makes "starts on a token boundary" mean the same for every tokenizer family.
    """
    result = []
    for start, end in _offsets_function(tokenizer)(text):
        start, end = max(start, 0), min(end, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            result.append((start, end))
    return result


def _tokenizer_name(tokenizer: Any) -> str:
    name = getattr(tokenizer, "name_or_path", None)
    if name:
        return str(name)
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    model = getattr(backend, "model", None)
    return type(model).__name__ if model is not None else type(tokenizer).__name__


# --- validation --------------------------------------------------------------------------


def _as_raw(doc: Document | RawDocument) -> RawDocument:
    if isinstance(doc, RawDocument):
        return doc
    return RawDocument(
        id=doc.id,
        text=doc.text,
        spans=[RawSpan(s.start, s.end, s.label, f"spans[{i}]") for i, s in enumerate(doc.spans)],
    )


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class _Validator:
    def __init__(
        self,
        *,
        labels: Sequence[str] | None,
        overlap_policy: str,
        label_mapping: Mapping[str, str | None] | None,
        tokenizer: Any,
    ) -> None:
        if overlap_policy not in OVERLAP_POLICIES:
            raise ValueError(
                f"overlap_policy must be one of {', '.join(OVERLAP_POLICIES)}, "
                f"got {overlap_policy!r}"
            )
        self.labels = None if labels is None else list(labels)
        self.label_set = None if labels is None else frozenset(labels)
        self.mapping = dict(label_mapping or {})
        self.policy = overlap_policy
        self.offsets = None if tokenizer is None else _offsets_function(tokenizer)
        self.report = ValidationReport(
            overlap_policy=overlap_policy,
            labels=self.labels,
            tokenizer=None if tokenizer is None else _tokenizer_name(tokenizer),
        )

    def issue(self, doc: RawDocument, kind: Any, action: Any, reason: str, span: Any) -> None:
        self.report.issues.append(
            Issue(
                doc_id=doc.id, kind=kind, action=action, reason=reason, span=span, source=doc.source
            )
        )

    def map_label(self, label: str) -> LabelAction:
        known = self.report.label_actions.get(label)
        if known is None:
            if not label.strip():
                known = LabelAction("dropped", None, reason="no label")
            elif label in self.mapping:
                target = self.mapping[label]
                if target is None:
                    known = LabelAction("dropped", None, reason="mapped to null")
                elif self.label_set is not None and target not in self.label_set:
                    known = LabelAction("dropped", None, reason=f"{target!r} not in label set")
                elif target == label:
                    known = LabelAction("kept", label)
                else:
                    known = LabelAction("mapped", target)
            elif self.label_set is not None and label not in self.label_set:
                known = LabelAction("dropped", None, reason="not in label set and not mapped")
            else:
                known = LabelAction("kept", label)
            self.report.label_actions[label] = known
        known.count += 1
        return known

    def clean_spans(self, doc: RawDocument) -> list[Span]:
        text = doc.text
        kept: list[tuple[int, int, str, int]] = []  # start, end, label, arrival order
        seen: set[tuple[int, int, str]] = set()
        for order, raw in enumerate(doc.spans):
            self.report.spans_in += 1
            self.report.source_labels[raw.label] += 1
            stated = (raw.start, raw.end, raw.label)
            if raw.start < 0 or raw.end > len(text):
                self.issue(
                    doc,
                    "out_of_bounds",
                    "dropped",
                    f"{raw.where or 'span'} lies outside the text (length {len(text)})",
                    stated,
                )
                self.map_label(raw.label)
                continue
            if raw.end <= raw.start:
                self.issue(doc, "empty_span", "dropped", "span covers no characters", stated)
                self.map_label(raw.label)
                continue
            start, end = _trim(text, raw.start, raw.end)
            if start == end:
                self.issue(doc, "whitespace_only", "dropped", "span is only whitespace", stated)
                self.map_label(raw.label)
                continue
            if (start, end) != (raw.start, raw.end):
                self.issue(
                    doc,
                    "trimmed",
                    "trimmed",
                    f"surrounding whitespace removed: now [{start}, {end})",
                    stated,
                )
            act = self.map_label(raw.label)
            if act.action == "dropped":
                kind = "unlabelled" if act.reason == "no label" else "label_dropped"
                if act.reason.startswith("not in label set"):
                    kind = "unknown_label"
                self.issue(
                    doc,
                    kind,
                    "dropped",
                    f"label {raw.label!r}: {act.reason}",
                    (start, end, raw.label),
                )
                continue
            assert act.to is not None
            key = (start, end, act.to)
            if key in seen:
                self.issue(doc, "duplicate_span", "dropped", "same span stated twice", key)
                continue
            seen.add(key)
            kept.append((start, end, act.to, order))
        resolved = self.resolve_overlaps(doc, kept)
        return [Span(start=s, end=e, label=lab) for s, e, lab, _ in resolved]

    def resolve_overlaps(
        self, doc: RawDocument, spans: list[tuple[int, int, str, int]]
    ) -> list[tuple[int, int, str, int]]:
        if self.policy == "keep_longest":
            priority = sorted(spans, key=lambda s: (-(s[1] - s[0]), s[0], s[3]))
        else:  # keep_first (and error, which reports what keep_first would do)
            priority = sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]), s[3]))
        accepted: list[tuple[int, int, str, int]] = []
        for span in priority:
            rival = next((a for a in accepted if span[0] < a[1] and a[0] < span[1]), None)
            if rival is None:
                accepted.append(span)
                continue
            nested = (rival[0] <= span[0] and span[1] <= rival[1]) or (
                span[0] <= rival[0] and rival[1] <= span[1]
            )
            kind = "nested" if nested else "overlap"
            relation = "nested with" if nested else "overlaps"
            other = f"[{rival[0]}, {rival[1]}) {rival[2]}"
            if self.policy == "error":
                self.issue(
                    doc, kind, "error", f"{relation} {other} (overlap_policy: error)", span[:3]
                )
                accepted.append(span)
            else:
                self.issue(
                    doc, kind, "dropped", f"{relation} {other}, kept by {self.policy}", span[:3]
                )
        return sorted(accepted, key=lambda s: (s[0], s[1]))

    def check_boundaries(self, doc: RawDocument, spans: Sequence[Span]) -> None:
        if self.offsets is None or not spans:
            return
        pieces = token_offsets(self.offsets, doc.text)
        starts = {s for s, _ in pieces}
        ends = {e for _, e in pieces}
        for span in spans:
            bad = [
                side
                for side, ok in (("start", span.start in starts), ("end", span.end in ends))
                if not ok
            ]
            if bad:
                self.issue(
                    doc,
                    "token_boundary",
                    "kept",
                    f"{' and '.join(bad)} inside a token of {self.report.tokenizer}",
                    span.as_tuple(),
                )


def validate_documents(
    docs: Iterable[Document | RawDocument],
    *,
    labels: Sequence[str] | None = None,
    overlap_policy: str = "keep_longest",
    label_mapping: Mapping[str, str | None] | None = None,
    tokenizer: Any = None,
) -> tuple[list[Document], ValidationReport]:
    """Clean documents and report every change.

    ``labels`` is the entity-type set (``None``: keep every label that survives the
    mapping); ``label_mapping`` renames (``{"Name": "NAME"}``), merges (two sources onto
    one target) or drops (``{"UNKNOWN": None}``) source labels. ``tokenizer`` (a
    ``tokenizers.Tokenizer``, a transformers fast tokenizer or a function returning
    offsets) adds the token-boundary check; such spans are kept and only reported.

    Under ``overlap_policy="error"`` every overlap is reported first, then a
    :class:`DataError` carrying the report (``exc.report``) is raised.
    """
    validator = _Validator(
        labels=labels,
        overlap_policy=overlap_policy,
        label_mapping=label_mapping,
        tokenizer=tokenizer,
    )
    report = validator.report
    clean: list[Document] = []
    ids: set[str] = set()
    texts: dict[str, str] = {}
    for item in docs:
        doc = _as_raw(item)
        report.documents_in += 1
        report.issues.extend(doc.issues)
        if doc.file and doc.file not in report.sources:
            report.sources.append(doc.file)
        if any(i.action == "dropped" and i.kind in _DOCUMENT_KINDS for i in doc.issues):
            report.spans_in += len(doc.spans)  # the reader dropped it (e.g. unannotated)
            continue
        if not doc.text.strip():
            validator.issue(doc, "empty_document", "dropped", "text is empty or blank", None)
            report.spans_in += len(doc.spans)
            continue
        digest = hashlib.sha1(doc.text.encode("utf-8")).hexdigest()
        if digest in texts:
            validator.issue(
                doc,
                "duplicate_document",
                "dropped",
                f"same text as document {texts[digest]!r}",
                None,
            )
            report.spans_in += len(doc.spans)
            continue
        texts[digest] = doc.id
        doc_id = doc.id
        if doc_id in ids:
            n = 2
            while f"{doc.id}-{n}" in ids:
                n += 1
            doc_id = f"{doc.id}-{n}"
            validator.issue(
                doc, "duplicate_id", "renamed", f"id already used; renamed to {doc_id!r}", None
            )
        ids.add(doc_id)
        spans = validator.clean_spans(doc)
        validator.check_boundaries(doc, spans)
        clean.append(Document(id=doc_id, text=doc.text, spans=spans))
        report.spans_out += len(spans)
        report.spans_per_type.update(span.label for span in spans)
    report.documents_out = len(clean)
    if overlap_policy == "error":
        errors = [i for i in report.issues if i.action == "error"]
        if errors:
            first = errors[0]
            raise DataError(
                f"{len(errors)} overlapping or nested span(s) under overlap_policy 'error'; "
                f"first: document {first.doc_id!r} span {list(first.span or ())} {first.reason}",
                path=first.source,
                report=report,
            )
    return clean, report
