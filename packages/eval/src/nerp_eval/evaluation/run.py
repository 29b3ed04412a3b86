"""Evaluate a checkpoint or ONNX package on documents: scores, error table, artifact, MLflow.

:func:`evaluate_documents` computes (no files); :func:`run_evaluation` also writes an
``evaluation`` artifact keyed by what was evaluated on which data, so re-running on the
same model and data reuses the result, and logs the figures to MLflow.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_eval.evaluation.errors import ErrorAnalysis, analyse_errors, strict_entities
from nerp_eval.evaluation.examples import EXAMPLES_FILE, examples_payload
from nerp_eval.evaluation.scoring import ScoredDocument, predict_and_align
from nerp_eval.targets import InferenceTarget, open_predictor, torch_threads
from nerp_eval.tracking import log_artifact_run, short_or_placeholder
from nerp_infra.artifacts import ArtifactIndex, RunMode, begin_artifact, kinds
from nerp_infra.artifacts.kinds import EVALUATION_KIND
from nerp_infra.artifacts.payloads import EvaluationPayload
from nerp_infra.config import NamingConfig, TrackingConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.documents import Document
from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import OutputLayout
from nerp_training.metrics import EntityMetrics, entity_metrics

__all__ = [
    "EVALUATION_FILE",
    "EVALUATION_KIND",
    "EXAMPLES_FILE",
    "PREDICTIONS_FILE",
    "EvaluationData",
    "EvaluationResult",
    "EvaluationRun",
    "evaluate_documents",
    "run_evaluation",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "EVALUATION_STAGE": "nerp_infra.artifacts.kinds:EVALUATE_STAGE",
    },
)

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.jsonl"


@dataclass(frozen=True)
class EvaluationData:
    """The documents evaluated on, and what identifies them (a dataset split or a file)."""

    documents: list[Document]
    data_fp: str
    """The dataset's data_fp, or a content hash of a plain documents file."""
    source: str
    """Human-readable origin: ``dataset <id> (test)`` or a file path."""
    artifact_id: str | None = None
    split: str | None = None

    @classmethod
    def from_documents(cls, docs: Sequence[Document], source: str) -> EvaluationData:
        digest = hashlib.sha256()
        for doc in docs:
            digest.update(doc.model_dump_json().encode("utf-8"))
            digest.update(b"\x1e")
        return cls(documents=list(docs), data_fp=digest.hexdigest(), source=source)


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of one target on one set of documents."""

    target: InferenceTarget
    metrics: EntityMetrics
    errors: ErrorAnalysis
    documents: list[ScoredDocument]

    def predicted_counts(self) -> Counter[str]:
        """Predicted entities per type, as seqeval's strict mode counts them."""
        counts: Counter[str] = Counter()
        for doc in self.documents:
            counts.update(chunk[0] for chunk in strict_entities(doc.pred_tags))
        return counts

    def per_type(self) -> dict[str, dict[str, float | int]]:
        """Per entity type: precision, recall, F1, support and how many were predicted."""
        predicted = self.predicted_counts()
        return {
            name: {
                "precision": scores.precision,
                "recall": scores.recall,
                "f1": scores.f1,
                "support": scores.support,
                "predicted": predicted.get(name, 0),
            }
            for name, scores in self.metrics.per_type.items()
        }

    def as_dict(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "backend": self.target.backend,
            "artifact_id": self.target.artifact_id,
            "backbone": self.target.backbone,
            "documents": len(self.documents),
            "support": m.support,
            "micro": {"precision": m.precision_micro, "recall": m.recall_micro, "f1": m.f1_micro},
            "macro": {"precision": m.precision_macro, "recall": m.recall_macro, "f1": m.f1_macro},
            "per_type": self.per_type(),
            "errors": self.errors.as_dict(),
        }

    def flat_metrics(self) -> dict[str, float]:
        """MLflow metrics: seqeval's flat dict plus error counts per class."""
        flat = dict(self.metrics.as_flat_dict())
        for kind, count in self.errors.totals.items():
            flat[f"errors_{kind}"] = float(count)
        return flat


def evaluate_documents(
    target: InferenceTarget,
    docs: Sequence[Document],
    *,
    batch_size: int = 16,
    threads: int | None = None,
) -> EvaluationResult:
    """Predict whole documents with the target and score them (strict entity level)."""
    predictor = open_predictor(target, threads=threads)
    with torch_threads(threads if target.backend == "torch" else None):
        scored = predict_and_align(predictor, docs, batch_size=batch_size)
    y_true = [d.gold_tags for d in scored]
    y_pred = [d.pred_tags for d in scored]
    metrics = entity_metrics(y_true, y_pred)
    errors = analyse_errors(
        y_true,
        y_pred,
        doc_ids=[d.doc_id for d in scored],
        unit_texts=[d.unit_texts for d in scored],
    )
    return EvaluationResult(target=target, metrics=metrics, errors=errors, documents=scored)


def _write_outputs(directory: Path, result: EvaluationResult, data: EvaluationData) -> None:
    payload = {**result.as_dict(), "data": {"source": data.source, "data_fp": data.data_fp}}
    (directory / EVALUATION_FILE).write_text(json.dumps(payload, indent=1) + "\n")
    with (directory / PREDICTIONS_FILE).open("w", encoding="utf-8") as handle:
        for doc in result.documents:
            record = {
                "id": doc.doc_id,
                "entities": [e.model_dump(mode="json") for e in doc.entities],
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    examples = examples_payload(data.documents, [doc.entities for doc in result.documents])
    (directory / EXAMPLES_FILE).write_text(
        json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _summary_metrics(result: EvaluationResult) -> dict[str, Any]:
    m = result.metrics
    return {
        "f1_micro": m.f1_micro,
        "f1_macro": m.f1_macro,
        "precision_micro": m.precision_micro,
        "recall_micro": m.recall_micro,
        "support": m.support,
        "documents": len(result.documents),
        **{f"f1_{name}": scores.f1 for name, scores in m.per_type.items()},
    }


@dataclass(frozen=True)
class EvaluationRun:
    """What :func:`run_evaluation` did: the artifact, and the figures (read back if reused)."""

    artifact_id: str
    artifact_dir: Path
    action: str
    report: dict[str, Any]
    result: EvaluationResult | None = None

    @property
    def f1_micro(self) -> float:
        return float(self.report["micro"]["f1"])

    @property
    def f1_macro(self) -> float:
        return float(self.report["macro"]["f1"])


def _spec_of(target: InferenceTarget, index: ArtifactIndex) -> str | None:
    spec = target.spec_fp()
    if spec is None and target.manifest is not None:
        for parent in index.lineage(target.manifest.id) if target.manifest.id in index else []:
            spec = parent.manifest.fingerprints.get("spec_fp")
            if spec:
                break
    return spec


def run_evaluation(
    target: InferenceTarget,
    data: EvaluationData,
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    run_mode: RunMode = "reuse_if_exists",
    batch_size: int = 16,
    threads: int | None = None,
    tracking: TrackingConfig | None = None,
    naming: NamingConfig | None = None,
) -> EvaluationRun:
    """Evaluate and record: an ``evaluation`` artifact (reused when the same target was
    evaluated on the same data) and, with tracking on, an MLflow run in ``<prefix>-evaluate``.
    """
    eval_fp = fingerprint(
        {
            "fp": "eval",
            "format": 2,  # 2: the artifact also holds examples.json
            "target": target.artifact_id,
            "backend": target.backend,
            "data_fp": data.data_fp,
            "batch_size": batch_size,
        }
    )
    lineage = [target.artifact_id] if target.artifact_id in index else []
    if data.artifact_id is not None and data.artifact_id in index:
        lineage.append(data.artifact_id)
    decision = begin_artifact(
        index,
        layout,
        kind=EVALUATION_KIND,
        stage=kinds.EVALUATE_STAGE,
        backbone=target.backbone,
        fingerprints={"eval_fp": eval_fp},
        lineage=lineage,
        config={
            "backend": target.backend,
            "target": str(target.path),
            "data": data.source,
            "split": data.split,
            "batch_size": batch_size,
        },
        run_mode=run_mode,
    )
    handle = decision.handle
    if not decision.should_run:
        report = json.loads((handle.dir / EVALUATION_FILE).read_text())
        return EvaluationRun(handle.id, handle.dir, decision.action, report)
    with handle.failing_on_error():
        result = evaluate_documents(target, data.documents, batch_size=batch_size, threads=threads)
        _write_outputs(handle.dir, result, data)
        run_id = log_artifact_run(
            handle,
            tracking=tracking,
            root=layout.root,
            run_kind="evaluation",
            naming=naming,
            index=index,
            spec8=short_or_placeholder(_spec_of(target, index), target.artifact_id),
            exec8=short_or_placeholder(
                target.manifest.fingerprints.get("exec_fp") if target.manifest else None,
                target.backend,
            ),
            params={
                "backend": target.backend,
                "target_artifact": target.artifact_id,
                "data": data.source,
                "batch_size": batch_size,
            },
            metrics=result.flat_metrics(),
        )
        handle.complete(
            metrics=_summary_metrics(result),
            extra=EvaluationPayload(mlflow_run_id=run_id, backend=target.backend).as_extra(),
        )
    return EvaluationRun(handle.id, handle.dir, decision.action, result.as_dict(), result)
