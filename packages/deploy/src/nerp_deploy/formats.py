"""Predictions in other tools' formats: Label Studio, doccano, Hugging Face pipelines.

Pure functions from a text and its :class:`~nerp_infra.documents.Entity` list to JSON-ready
dicts, plus :class:`PredictionWriter`, which streams them to a file object. No model, no
onnxruntime, no torch: ``nerp predict --format`` and anything else can use them.

- ``nerp``: nerp's own records, ``{"entities": [{"text", "label", "start", "end",
  "confidence"}]}`` (plus ``id`` or ``file``), one JSON line per document.
- ``hf``: the same records, each entity as the ``transformers`` token-classification
  pipeline gives it with an aggregation strategy: ``entity_group``, ``score``, ``word``,
  ``start``, ``end``. ``word`` is the exact source text ``text[start:end]`` (the pipeline
  decodes tokens instead, which lower-cases with uncased models).
- ``doccano``: doccano's sequence-labeling JSONL, ``{"text", "label": [[start, end,
  label]]}`` (plus ``id`` when the document has one); doccano has no scores.
- ``label-studio``: one JSON list of tasks for Label Studio's import, each
  ``{"data": {"text", "id"?}, "predictions": [{"model_version", "score", "result": [...]}]}``
  with one ``labels`` region per entity (its ``score`` the entity confidence). The
  prediction ``score`` is the lowest entity confidence (1.0 without entities), so sorting
  tasks by it in the Data Manager puts the least certain documents first.

Offsets are Unicode code points, end-exclusive, as everywhere in nerp.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from nerp_infra.documents import Entity

__all__ = [
    "OUTPUT_FORMATS",
    "LabelStudioSettings",
    "OutputFormat",
    "PredictionWriter",
    "doccano_record",
    "hf_entities",
    "label_studio_task",
    "nerp_entities",
]

OutputFormat = Literal["nerp", "label-studio", "doccano", "hf"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("nerp", "label-studio", "doccano", "hf")


@dataclass(frozen=True)
class LabelStudioSettings:
    """How regions refer to the project's labeling config.

    The defaults fit Label Studio's Named Entity Recognition template:
    ``<Labels name="label" toName="text">`` and ``<Text name="text" value="$text"/>``.
    """

    model_version: str = "nerp"
    from_name: str = "label"
    to_name: str = "text"
    text_key: str = "text"


def nerp_entities(entities: Sequence[Entity]) -> list[dict[str, Any]]:
    """nerp's own entity objects."""
    return [entity.model_dump() for entity in entities]


def hf_entities(entities: Sequence[Entity]) -> list[dict[str, Any]]:
    """Entities as a ``transformers`` pipeline with ``aggregation_strategy`` returns them."""
    return [
        {
            "entity_group": e.label,
            "score": e.confidence,
            "word": e.text,
            "start": e.start,
            "end": e.end,
        }
        for e in entities
    ]


def doccano_record(
    text: str, entities: Sequence[Entity], doc_id: str | None = None
) -> dict[str, Any]:
    """One line of a doccano sequence-labeling import."""
    record: dict[str, Any] = {} if doc_id is None else {"id": doc_id}
    record["text"] = text
    record["label"] = [[e.start, e.end, e.label] for e in entities]
    return record


def label_studio_task(
    text: str,
    entities: Sequence[Entity],
    settings: LabelStudioSettings | None = None,
    *,
    doc_id: str | None = None,
    extra_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Label Studio task holding the text and nerp's entities as one prediction."""
    settings = settings or LabelStudioSettings()
    data: dict[str, Any] = {settings.text_key: text}
    if doc_id is not None:
        data["id"] = doc_id
    data.update(extra_data or {})
    result = [
        {
            "id": f"nerp-{index}",
            "from_name": settings.from_name,
            "to_name": settings.to_name,
            "type": "labels",
            "value": {"start": e.start, "end": e.end, "text": e.text, "labels": [e.label]},
            "score": e.confidence,
        }
        for index, e in enumerate(entities)
    ]
    score = min((e.confidence for e in entities), default=1.0)
    prediction = {"model_version": settings.model_version, "score": score, "result": result}
    return {"data": data, "predictions": [prediction]}


class PredictionWriter:
    """Writes one document's predictions at a time in an output format.

    Line formats write a JSON line per document; ``label-studio`` writes one JSON list,
    opened by the first document and closed by :meth:`close` (an empty list when no
    document came), because Label Studio imports a list of tasks.
    """

    def __init__(
        self,
        stream: TextIO,
        format: OutputFormat = "nerp",
        label_studio: LabelStudioSettings | None = None,
    ) -> None:
        if format not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {format!r}; use {', '.join(OUTPUT_FORMATS)}")
        self.stream = stream
        self.format = format
        self.label_studio = label_studio or LabelStudioSettings()
        self._count = 0

    def write(
        self,
        text: str,
        entities: Sequence[Entity],
        *,
        doc_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """One document. ``meta`` (e.g. ``file``, ``kind``) goes into nerp and hf records
        and into a Label Studio task's data; doccano's import has no place for it."""
        record: dict[str, Any]
        if self.format == "label-studio":
            task = label_studio_task(
                text, entities, self.label_studio, doc_id=doc_id, extra_data=meta
            )
            self.stream.write(("[\n" if self._count == 0 else ",\n") + _dumps(task))
        else:
            if self.format == "doccano":
                record = doccano_record(text, entities, doc_id)
            else:
                record = {} if doc_id is None else {"id": doc_id}
                record.update(meta or {})
                convert = hf_entities if self.format == "hf" else nerp_entities
                record["entities"] = convert(entities)
            self.stream.write(_dumps(record) + "\n")
        self._count += 1

    def close(self) -> None:
        """End the output (the closing bracket of a Label Studio list)."""
        if self.format == "label-studio":
            self.stream.write("[]\n" if self._count == 0 else "\n]\n")
            self.stream.flush()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
