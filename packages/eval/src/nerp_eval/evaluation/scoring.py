"""Predict whole documents and turn gold and predicted spans into aligned BIO tags.

Both sides are encoded with the same ``encode_spans`` call on the same tokens (the
model's own tokenizer, whole document, no windows), so a tag sequence pair compares
exactly what the model was asked to do: entities at the granularity of the units it
tags (words, or sub-word tokens with ``label_all_subtokens``). Predictions are the
entities the engine serves (after window merging and decoding), not raw argmax tags,
so the scores are those of the served output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nerp_deploy.predictor import DocumentPrediction, Predictor
from nerp_eval.errors import EvalError
from nerp_infra.documents import Document, Entity, Span
from nerp_infra.labels import LabelAlignmentError, LabelScheme, encode_spans
from nerp_infra.model_files import InferenceSettings

__all__ = ["ScoredDocument", "predict_and_align", "tags_for_document"]


@dataclass(frozen=True)
class ScoredDocument:
    """One document's aligned gold and predicted tags, unit texts and predicted entities."""

    doc_id: str
    gold_tags: list[str]
    pred_tags: list[str]
    unit_texts: list[str]
    entities: list[Entity]


def tags_for_document(
    doc: Document,
    prediction: DocumentPrediction,
    settings: InferenceSettings,
) -> ScoredDocument:
    """Gold and predicted tags over the tagged units of one document."""
    encoded = prediction.encoded
    scheme = LabelScheme.from_labels(settings.labels)
    unknown = sorted({s.label for s in doc.spans} - set(scheme.entity_types))
    if unknown:
        raise EvalError(
            f"document {doc.id!r}: gold label(s) {', '.join(unknown)} are not in the model's "
            f"labels ({', '.join(scheme.entity_types)}); evaluate on data with the same label set"
        )
    common = {"label_all_subtokens": settings.label_all_subtokens, "word_ids": encoded.word_ids}
    try:
        gold = encode_spans(doc.spans, encoded.offsets, scheme, **common)  # type: ignore[arg-type]
    except LabelAlignmentError as exc:
        raise EvalError(f"document {doc.id!r}: gold spans cannot be tagged: {exc}") from exc
    predicted_spans = [Span(start=e.start, end=e.end, label=e.label) for e in prediction.entities]
    try:
        pred = encode_spans(predicted_spans, encoded.offsets, scheme, **common)  # type: ignore[arg-type]
    except LabelAlignmentError as exc:  # decoded entities never overlap; this is a bug guard
        raise EvalError(f"document {doc.id!r}: predicted entities cannot be tagged: {exc}") from exc
    keep = [i for i, tag in enumerate(gold) if tag is not None]
    units = _unit_texts(
        doc.text, encoded.offsets, encoded.word_ids, keep, settings.label_all_subtokens
    )
    return ScoredDocument(
        doc_id=doc.id,
        gold_tags=[str(gold[i]) for i in keep],
        pred_tags=[str(pred[i] or "O") for i in keep],
        unit_texts=units,
        entities=list(prediction.entities),
    )


def _unit_texts(
    text: str,
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    keep: Sequence[int],
    label_all_subtokens: bool,
) -> list[str]:
    """The text of each tagged unit (a word reaches to the last token of that word)."""
    texts = []
    for position, token in enumerate(keep):
        start, end = offsets[token]
        if not label_all_subtokens:
            stop = keep[position + 1] if position + 1 < len(keep) else len(offsets)
            for later in range(token + 1, stop):
                if word_ids[later] is not None and word_ids[later] == word_ids[token]:
                    end = max(end, offsets[later][1])
        texts.append(text[start:end])
    return texts


def predict_and_align(
    predictor: Predictor, docs: Sequence[Document], *, batch_size: int = 16
) -> list[ScoredDocument]:
    """Run the predictor on the documents' texts and align tags document by document."""
    if not docs:
        raise EvalError("no documents to evaluate (the test split or file is empty)")
    predictions = predictor.predict_documents([doc.text for doc in docs], batch_size)
    return [
        tags_for_document(doc, prediction, predictor.settings)
        for doc, prediction in zip(docs, predictions, strict=True)
    ]
