"""DataTurks JSONL exports (``content`` + ``annotation`` with inclusive ``points``).

Quirks handled here rather than in validation, because only this format has them:
``end`` is inclusive; ``label`` is a list (empty lists exist: such spans are read with
an empty label and dropped as unlabelled by validation; several labels give one span
each); and in some exports the offsets drift from the ``text`` each point repeats (the
public resumes corpus is off by 1 to 36 characters in a few dozen points). When the
stated text is found near the stated offsets the span is moved there ("realigned");
otherwise the offsets are kept, since they are the format's source of truth, and the
mismatch is reported.
"""

from __future__ import annotations

import os
from pathlib import Path

from nerp_infra.documents import describe_json, is_json_int
from nerp_training.data.importers._records import Record, iter_records
from nerp_training.data.records import Issue, RawDocument, RawSpan

__all__ = ["DATATURKS_RESUME_MAPPING", "REALIGN_WINDOW", "read_dataturks"]

DATATURKS_RESUME_MAPPING: dict[str, str | None] = {
    "Name": "NAME",
    "Email Address": "EMAIL",
    "Location": "LOCATION",
    "Designation": "DESIGNATION",
    "Companies worked at": "COMPANY",
    "College Name": "EDUCATION",
    "Degree": "EDUCATION",
    "Skills": "SKILL",
    "Years of Experience": "EXPERIENCE",
    "Graduation Year": None,
    "UNKNOWN": None,
}
"""The public DataTurks resume corpus's labels onto nerp's default entity types.

Degree and college merge into EDUCATION (as in the synthetic data); graduation years
and UNKNOWN have no counterpart and are dropped.
"""

REALIGN_WINDOW = 100
"""How far (characters) from the stated start a point's text is searched for."""


def _nearest(content: str, needle: str, start: int) -> int | None:
    lo = max(0, start - REALIGN_WINDOW)
    hi = min(len(content), start + len(needle) + REALIGN_WINDOW)
    best: int | None = None
    position = content.find(needle, lo, hi)
    while position != -1:
        if best is None or abs(position - start) < abs(best - start):
            best = position
        position = content.find(needle, position + 1, hi)
    return best


def _labels(record: Record, field: str, value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise record.error(f"must be a list of strings, got {describe_json(value)}", field)
    return list(value) if value else [""]


def _parse(record: Record, prefix: str) -> RawDocument:
    data = record.obj()
    content = data.get("content")
    if not isinstance(content, str):
        raise record.error(f"must be a string, got {describe_json(content)}", "content")
    annotations = data.get("annotation") or []
    if not isinstance(annotations, list):
        raise record.error(f"must be a list, got {describe_json(annotations)}", "annotation")
    doc = RawDocument(
        id=f"{prefix}-{record.index}", text=content, source=record.source, file=str(record.path)
    )
    for i, annotation in enumerate(annotations):
        field = f"annotation[{i}]"
        if not isinstance(annotation, dict):
            raise record.error(f"must be an object, got {describe_json(annotation)}", field)
        labels = _labels(record, f"{field}.label", annotation.get("label"))
        points = annotation.get("points")
        if not isinstance(points, list):
            raise record.error(f"must be a list, got {describe_json(points)}", f"{field}.points")
        for j, point in enumerate(points):
            where = f"{field}.points[{j}]"
            if not isinstance(point, dict):
                raise record.error(f"must be an object, got {describe_json(point)}", where)
            for key in ("start", "end"):
                if not is_json_int(point.get(key)):
                    raise record.error(
                        f"not an integer ({describe_json(point.get(key))})", f"{where}.{key}"
                    )
            start, end = int(point["start"]), int(point["end"]) + 1  # inclusive -> exclusive
            stated = point.get("text")
            if stated is not None and not isinstance(stated, str):
                raise record.error(
                    f"must be a string, got {describe_json(stated)}", f"{where}.text"
                )
            if stated and 0 <= start < end <= len(content) and content[start:end] != stated:
                found = _nearest(content, stated, start)
                if found is not None:
                    doc.issues.append(
                        Issue(
                            doc.id,
                            "offset_mismatch",
                            "realigned",
                            f"{where}: stated text found {found - start:+d} characters away; "
                            f"moved to [{found}, {found + len(stated)})",
                            (start, end, "/".join(labels)),
                            record.source,
                        )
                    )
                    start, end = found, found + len(stated)
                else:
                    doc.issues.append(
                        Issue(
                            doc.id,
                            "offset_mismatch",
                            "kept",
                            f"{where}: text at the offsets differs from the stated text "
                            f"{stated[:40]!r} and it is not nearby; offsets kept",
                            (start, end, "/".join(labels)),
                            record.source,
                        )
                    )
            doc.spans.extend(RawSpan(start, end, label, where) for label in labels)
    return doc


def read_dataturks(
    path: str | os.PathLike[str], *, id_prefix: str | None = None
) -> list[RawDocument]:
    """Documents of a DataTurks export; ids are ``<id_prefix>-<index>`` (default: file stem)."""
    path = Path(path)
    prefix = id_prefix or path.stem
    return [_parse(record, prefix) for record in iter_records(path)]
