"""Label Studio JSON exports: a list of tasks, ``data`` + ``annotations[].result[]``.

One task becomes one document. What is read, and why:

- **Text**: ``data.text``; failing that, the ``data`` key named by a result's ``to_name``
  (the labeling config's ``<Text name=...>`` usually reads the key of the same name), or
  the only string in ``data``. Anything else is an error that lists the keys.
- **Id**: ``data.id`` (the user's own id, which ``nerp predict --format label-studio``
  writes), else the task's ``id``, else ``<file stem>-<index>``.
- **Which annotation**: cancelled ones (``was_cancelled``, "skipped" in the UI) are
  ignored. Of the rest, the one marked ``ground_truth`` wins, otherwise the last one
  (Label Studio lists them oldest first, so the last is the newest correction). Spans of
  several annotators are never merged: that would only manufacture overlaps.
- **Predictions** are model output, not labels: a task with no usable annotation is
  dropped and reported (``unannotated``) unless ``use_predictions`` is set, in which case
  its last prediction stands in. That is what a round trip of ``nerp predict --format
  label-studio`` or a pre-annotated but unreviewed export needs, and nothing trains on
  a model's own guesses by accident.
- **Results**: only ``type: "labels"`` (or untyped results carrying ``labels``) are
  spans; choices, text areas, ratings and relations are ignored. ``value.start/end``
  are end-exclusive; several ``labels`` give one span each, an empty list an unlabelled
  span that validation drops. Old exports' ``completions`` key is read like
  ``annotations``.
- **Offsets**: when ``value.text`` disagrees with the document at the stated offsets and
  the offsets were counted in UTF-16 code units (older Label Studio front-ends did so
  for texts with emoji or other astral characters), they are converted and the span is
  reported as realigned; otherwise the offsets are kept and the mismatch reported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nerp_infra.documents import describe_json, is_json_int
from nerp_training.data.importers._records import Record, iter_records
from nerp_training.data.records import Issue, RawDocument, RawSpan

__all__ = ["read_label_studio"]

_ANNOTATION_KEYS = ("annotations", "completions")


def _utf16_to_index(text: str, units: int) -> int | None:
    """The code-point index of ``units`` UTF-16 code units into ``text`` (None: mid-pair)."""
    count = 0
    for index, char in enumerate(text):
        if count == units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
        if count > units:
            return None
    return len(text) if count == units else None


def _list(record: Record, value: object, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise record.error(f"must be a list, got {describe_json(value)}", field)
    return value


def _pick(record: Record, task: dict[str, Any], use_predictions: bool) -> tuple[str, Any] | None:
    """The field path and object whose ``result`` becomes the document's spans."""
    key = next((k for k in _ANNOTATION_KEYS if k in task), "annotations")
    annotations = _list(record, task.get(key), key)
    usable: list[tuple[str, dict[str, Any]]] = []
    for i, annotation in enumerate(annotations):
        field = f"{key}[{i}]"
        if not isinstance(annotation, dict):
            raise record.error(f"must be an object, got {describe_json(annotation)}", field)
        if annotation.get("was_cancelled") is True:
            continue
        usable.append((field, annotation))
    if usable:
        marked = [item for item in usable if item[1].get("ground_truth") is True]
        return (marked or usable)[-1]
    if not use_predictions:
        return None
    predictions = _list(record, task.get("predictions"), "predictions")
    if not predictions:
        return None
    field = f"predictions[{len(predictions) - 1}]"
    if not isinstance(predictions[-1], dict):
        raise record.error(f"must be an object, got {describe_json(predictions[-1])}", field)
    return field, predictions[-1]


def _text(record: Record, data: dict[str, Any], results: list[Any]) -> tuple[str, str]:
    """The document text and the ``data`` key it came from."""
    candidates = ["text"]
    candidates += [r["to_name"] for r in results if isinstance(r, dict) and "to_name" in r]
    for key in candidates:
        if isinstance(key, str) and isinstance(data.get(key), str):
            return data[key], key
    strings = [key for key, value in data.items() if isinstance(value, str)]
    if len(strings) == 1:
        return data[strings[0]], strings[0]
    keys = ", ".join(sorted(map(str, data))) or "none"
    raise record.error(
        "no text to read: expected data.text, the data key named by a result's to_name, "
        f"or exactly one string in data (keys: {keys})",
        "data",
    )


def _doc_id(record: Record, task: dict[str, Any], data: dict[str, Any], prefix: str) -> str:
    for field, value in (("data.id", data.get("id")), ("id", task.get("id"))):
        if value is None:
            continue
        if is_json_int(value) or (isinstance(value, str) and value.strip()):
            return str(value)
        raise record.error(f"must be a string or an integer, got {describe_json(value)}", field)
    return f"{prefix}-{record.index}"


def _span_issue(doc: RawDocument, record: Record, where: str, span: RawSpan, stated: str) -> None:
    text = doc.text
    start = _utf16_to_index(text, span.start)
    end = _utf16_to_index(text, span.end)
    if start is not None and end is not None and start < end and text[start:end] == stated:
        doc.issues.append(
            Issue(
                doc.id,
                "offset_mismatch",
                "realigned",
                f"{where}: offsets counted in UTF-16 code units; moved to [{start}, {end})",
                (span.start, span.end, span.label),
                record.source,
            )
        )
        span.start, span.end = start, end
        return
    doc.issues.append(
        Issue(
            doc.id,
            "offset_mismatch",
            "kept",
            f"{where}: text at the offsets differs from the stated text {stated[:40]!r}; "
            "offsets kept",
            (span.start, span.end, span.label),
            record.source,
        )
    )


def _parse(record: Record, prefix: str, use_predictions: bool) -> RawDocument:
    task = record.obj()
    data = task.get("data")
    if not isinstance(data, dict):
        raise record.error(
            f"must be an object holding the task's text, got {describe_json(data)} "
            "(is this a Label Studio JSON export?)",
            "data",
        )
    picked = _pick(record, task, use_predictions)
    field, source = picked if picked is not None else ("", {})
    results = _list(record, source.get("result"), f"{field}.result") if picked else []
    text, _ = _text(record, data, results)
    doc = RawDocument(
        id=_doc_id(record, task, data, prefix),
        text=text,
        source=record.source,
        file=str(record.path),
    )
    if picked is None:
        has_predictions = bool(task.get("predictions"))
        hint = (
            "; it has predictions: pass --use-predictions to import them" if has_predictions else ""
        )
        doc.issues.append(
            Issue(
                doc.id,
                "unannotated",
                "dropped",
                f"no annotation that was not cancelled{hint}",
                None,
                record.source,
            )
        )
        return doc
    for j, result in enumerate(results):
        where = f"{field}.result[{j}]"
        if not isinstance(result, dict):
            raise record.error(f"must be an object, got {describe_json(result)}", where)
        value = result.get("value")
        kind = result.get("type")
        if kind is None and not (isinstance(value, dict) and "labels" in value):
            continue
        if kind is not None and kind != "labels":
            continue  # choices, textarea, relation, ...: not spans
        if not isinstance(value, dict):
            raise record.error(f"must be an object, got {describe_json(value)}", f"{where}.value")
        for key in ("start", "end"):
            if not is_json_int(value.get(key)):
                raise record.error(
                    f"not an integer ({describe_json(value.get(key))})", f"{where}.value.{key}"
                )
        labels = value.get("labels")
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise record.error(
                f"must be a list of strings, got {describe_json(labels)}", f"{where}.value.labels"
            )
        stated = value.get("text")
        if stated is not None and not isinstance(stated, str):
            raise record.error(
                f"must be a string, got {describe_json(stated)}", f"{where}.value.text"
            )
        start, end = int(value["start"]), int(value["end"])
        for label in labels or [""]:
            span = RawSpan(start, end, label, where)
            if stated and 0 <= start < end and text[start:end] != stated:
                _span_issue(doc, record, where, span, stated)
            doc.spans.append(span)
    return doc


def read_label_studio(
    path: str | os.PathLike[str], *, id_prefix: str | None = None, use_predictions: bool = False
) -> list[RawDocument]:
    """Documents of a Label Studio JSON export (see the module docstring for the rules).

    ``use_predictions`` takes a task's predictions when it has no usable annotation;
    without it such tasks are dropped and reported.
    """
    path = Path(path)
    prefix = id_prefix or path.stem
    return [_parse(record, prefix, use_predictions) for record in iter_records(path)]
