"""The parity gate: an ONNX package is accepted only if it predicts like PyTorch.

fp32 must reproduce PyTorch's logits (max absolute difference over real tokens, padding
excluded). int8 cannot, nor can bf16 (the fp32 graph on OpenVINO, checked when OpenVINO
is installed), so each is judged on what users see: the share of tokens whose
tag matches PyTorch's, and the entity F1 of its entities against PyTorch's (strict match
of label and offsets), on texts holding at least ``min_entities`` entities so that one
disagreement cannot swing the verdict. Both backends run through the same windows, merging and BIO
decoding (``nerp_deploy.predictor``), so any difference is the backend's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nerp_deploy.errors import DeployError
from nerp_deploy.predictor import DocumentPrediction, Predictor
from nerp_infra.config import ParityConfig
from nerp_infra.documents import Entity

__all__ = ["ParityError", "ParityReport", "check_parity", "entity_f1"]


@dataclass(frozen=True)
class ParityReport:
    """Parity figures of one package against PyTorch, and which thresholds failed."""

    n_samples: int
    n_tokens: int
    n_entities: int
    int8_n_entities: int | None
    fp32_max_abs_diff: float
    fp32_tag_agreement: float
    int8_max_abs_diff: float | None
    int8_tag_agreement: float | None
    int8_entity_f1: float | None
    thresholds: dict[str, float]
    bf16_n_entities: int | None = None
    bf16_max_abs_diff: float | None = None
    bf16_tag_agreement: float | None = None
    bf16_entity_f1: float | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def int8_f1_drop(self) -> float | None:
        return None if self.int8_entity_f1 is None else 1.0 - self.int8_entity_f1

    def metrics(self) -> dict[str, float]:
        """Flat numeric figures for the manifest and MLflow (absent ones left out)."""
        data = asdict(self)
        data["int8_f1_drop"] = self.int8_f1_drop
        return {
            f"parity_{key}": float(value)
            for key, value in data.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }

    def summary(self) -> str:
        parts = [
            f"fp32 max |Δlogit| {self.fp32_max_abs_diff:.2e} "
            f"(limit {self.thresholds['fp32_max_abs_diff']:.0e})",
            f"fp32 tag agreement {self.fp32_tag_agreement:.4f}",
        ]
        counted = f"{self.n_entities} PyTorch entities"
        for name, agreement, f1, n in (
            ("int8", self.int8_tag_agreement, self.int8_entity_f1, self.int8_n_entities),
            ("bf16", self.bf16_tag_agreement, self.bf16_entity_f1, self.bf16_n_entities),
        ):
            if agreement is not None and f1 is not None:
                parts += [
                    f"{name} tag agreement {agreement:.4f} "
                    f"(min {self.thresholds['int8_min_tag_agreement']})",
                    f"{name} entity F1 vs PyTorch {f1:.4f} "
                    f"(max drop {self.thresholds['int8_max_f1_drop']})",
                ]
                counted += f", {n} {name} entities"
        parts.append(f"on {self.n_samples} texts, {self.n_tokens} tokens, {counted}")
        return "; ".join(parts)


class ParityError(DeployError):
    """The ONNX package does not predict like the PyTorch model; carries the figures."""

    def __init__(self, report: ParityReport) -> None:
        self.report = report
        super().__init__(
            "parity check failed: " + "; ".join(report.failures) + f" [{report.summary()}]"
        )


def _key(entity: Entity) -> tuple[int, int, str]:
    return (entity.start, entity.end, entity.label)


def entity_f1(
    predicted: Sequence[Sequence[Entity]], reference: Sequence[Sequence[Entity]]
) -> float:
    """Micro entity F1 of ``predicted`` against ``reference`` (strict: offsets and label).

    Two empty predictions agree perfectly (1.0): nothing was found and nothing was missed.
    """
    tp = n_pred = n_ref = 0
    for pred_doc, ref_doc in zip(predicted, reference, strict=True):
        pred = {_key(e) for e in pred_doc}
        ref = {_key(e) for e in ref_doc}
        tp += len(pred & ref)
        n_pred += len(pred)
        n_ref += len(ref)
    if n_pred == 0 and n_ref == 0:
        return 1.0
    return 2 * tp / (n_pred + n_ref)


def _tag_agreement(a: Sequence[DocumentPrediction], b: Sequence[DocumentPrediction]) -> float:
    same = total = 0
    for doc_a, doc_b in zip(a, b, strict=True):
        same += sum(x == y for x, y in zip(doc_a.tokens.tags, doc_b.tokens.tags, strict=True))
        total += len(doc_a.tokens.tags)
    return same / total if total else 1.0


def _max_abs_diff(reference: Predictor, other: Predictor, texts: Sequence[str]) -> float:
    """Largest logit difference over real (unpadded) positions, on identical batches."""
    tokenizer = reference.tokenizer
    encoded = tokenizer.encode(texts)
    worst = 0.0
    for batch in tokenizer.batches(encoded, tokenizer.windows(encoded), batch_size=8):
        mask = batch.attention_mask.astype(bool)
        diff = np.abs(reference.run_batch(batch) - other.run_batch(batch))[mask]
        if diff.size:
            value = float(diff.max())
            if not np.isfinite(value):
                return float("inf")
            worst = max(worst, value)
    return worst


def check_parity(
    torch_predictor: Predictor,
    fp32: Predictor,
    int8: Predictor | None,
    texts: Sequence[str],
    parity: ParityConfig | Mapping[str, Any] | None = None,
    *,
    more_texts: Callable[[int], Sequence[str]] | None = None,
    bf16: Predictor | None = None,
) -> ParityReport:
    """Compare the ONNX predictors with PyTorch on ``texts``; never raises on a failed gate.

    While PyTorch finds fewer than ``parity.min_entities`` entities in the texts,
    ``more_texts(n_so_far)`` is asked for more (up to ``parity.max_samples`` texts), so
    the entity F1 the gate reads rests on enough entities to mean something.
    The caller decides what a failure means (``convert_checkpoint`` raises ParityError).
    """
    config = parity if isinstance(parity, ParityConfig) else ParityConfig(**dict(parity or {}))
    if not texts:
        raise ValueError("parity needs at least one sample text")
    texts = list(texts)
    reference = torch_predictor.predict_documents(texts)
    while more_texts is not None and len(texts) < config.max_samples:
        if sum(len(d.entities) for d in reference) >= config.min_entities:
            break
        extra = list(more_texts(len(texts)))[: config.max_samples - len(texts)]
        if not extra:
            break
        texts.extend(extra)
        reference.extend(torch_predictor.predict_documents(extra))
    fp32_docs = fp32.predict_documents(texts)
    fp32_diff = _max_abs_diff(torch_predictor, fp32, texts)
    failures = []
    if not fp32_diff <= config.fp32_max_abs_diff:  # also catches NaN
        failures.append(
            f"fp32 max absolute logit difference {fp32_diff:.3e} exceeds "
            f"{config.fp32_max_abs_diff:.0e}"
        )
    judged = {
        name: _judge(name, predictor, torch_predictor, reference, texts, config, failures)
        for name, predictor in (("int8", int8), ("bf16", bf16))
        if predictor is not None
    }
    figures = {
        f"{name}_{key}": value
        for name, judgement in judged.items()
        for key, value in asdict(judgement).items()
    }
    return ParityReport(
        n_samples=len(texts),
        n_tokens=sum(len(d.tokens.tags) for d in reference),
        n_entities=sum(len(d.entities) for d in reference),
        int8_n_entities=figures.pop("int8_n_entities", None),
        fp32_max_abs_diff=fp32_diff,
        fp32_tag_agreement=_tag_agreement(reference, fp32_docs),
        int8_max_abs_diff=figures.pop("int8_max_abs_diff", None),
        int8_tag_agreement=figures.pop("int8_tag_agreement", None),
        int8_entity_f1=figures.pop("int8_entity_f1", None),
        thresholds={
            "fp32_max_abs_diff": config.fp32_max_abs_diff,
            "int8_min_tag_agreement": config.int8_min_tag_agreement,
            "int8_max_f1_drop": config.int8_max_f1_drop,
            "min_entities": config.min_entities,
        },
        failures=failures,
        **figures,
    )


@dataclass(frozen=True)
class _Judgement:
    n_entities: int
    max_abs_diff: float
    tag_agreement: float
    entity_f1: float


def _judge(
    name: str,
    predictor: Predictor,
    torch_predictor: Predictor,
    reference: Sequence[DocumentPrediction],
    texts: Sequence[str],
    config: ParityConfig,
    failures: list[str],
) -> _Judgement:
    """A variant that cannot reproduce the logits, judged on tags and entities.

    int8 and bf16 share the int8 thresholds: both are lossy in the same place (matrix
    products), and users judge both by the entities they see.
    """
    docs = predictor.predict_documents(texts)
    agreement = _tag_agreement(reference, docs)
    f1 = entity_f1([d.entities for d in docs], [d.entities for d in reference])
    if agreement < config.int8_min_tag_agreement:
        failures.append(
            f"{name} tag agreement {agreement:.4f} is below {config.int8_min_tag_agreement}"
        )
    if 1.0 - f1 > config.int8_max_f1_drop:
        failures.append(
            f"{name} entity F1 against PyTorch is {f1:.4f}, a drop of "
            f"{1.0 - f1:.4f} (more than {config.int8_max_f1_drop})"
        )
    return _Judgement(
        n_entities=sum(len(d.entities) for d in docs),
        max_abs_diff=_max_abs_diff(torch_predictor, predictor, texts),
        tag_agreement=agreement,
        entity_f1=f1,
    )
