"""Typed payloads: what each artifact kind keeps in its manifest's ``extra``.

``Manifest.extra`` is free-form on disk, so a manifest written by another nerp version or
by hand still opens. Between packages it is a contract (training reads the champion that
selection wrote; selection reads what HPO wrote about its study), so each kind has one
pydantic model here: writers build it, readers validate with :meth:`Payload.of`, and a bad
field fails once, naming the manifest file and the field, instead of deep in a stage.

Unknown keys are kept (``extra="allow"``): an older reader opens a newer writer's
manifest. :meth:`Payload.as_extra` writes only the fields that were set, so a payload
round-trips to the same JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nerp_infra.artifacts import kinds
from nerp_infra.artifacts.manifest import MANIFEST_NAME, Manifest, ManifestError

__all__ = [
    "PAYLOADS",
    "BenchmarkPayload",
    "Champion",
    "EvaluationPayload",
    "ModelPayload",
    "OnnxPackagePayload",
    "Payload",
    "ReportPayload",
    "SelectionPayload",
    "StudyPayload",
    "payload_of",
]


class Payload(BaseModel):
    """Fields every kind may carry; subclasses add their kind's own."""

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str] = ""

    mlflow_run_id: str | None = None
    failure_reason: str | None = None
    resume_count: int | None = None
    azureml_job: dict[str, Any] | None = None
    """The Azure ML job that made it (``nerp_infra.azureml.record_job_outputs``)."""

    @classmethod
    def of(cls, manifest: Manifest, where: str | Path | None = None) -> Self:
        """Validate ``manifest.extra`` as this payload; ``where`` (the artifact folder or a
        description) names the file in the error."""
        try:
            return cls.model_validate(manifest.extra)
        except ValidationError as exc:
            place = (
                f"{Path(where) / MANIFEST_NAME}" if isinstance(where, Path) else where
            ) or f"artifact {manifest.id}"
            problems = "; ".join(
                f"field extra.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
            raise ManifestError(f"{place}: {problems}") from None

    def as_extra(self) -> dict[str, Any]:
        """The manifest ``extra`` for this payload: the fields that were set, as JSON."""
        return self.model_dump(mode="json", exclude_unset=True)


class Champion(BaseModel):
    """The backbone and settings final training uses for ``source: best_selected``."""

    model_config = ConfigDict(extra="allow")

    backbone: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    trial_id: str | None = None
    study_artifact_id: str | None = None


class SelectionPayload(Payload):
    kind: ClassVar[str] = kinds.SELECTION_KIND

    champion: Champion
    decision: dict[str, Any] | None = None


class StudyPayload(Payload):
    """An HPO study: where it is stored, what it optimises, its best trial and refit."""

    kind: ClassVar[str] = kinds.STUDY_KIND

    study_name: str | None = None
    storage_url: str | None = None
    storage_url_full: str | None = None
    budget: Any = None
    k_folds: int | None = None
    folds_file: str | None = None
    direction: str | None = None
    objective_metric: str | None = None
    mlflow_parent_run_id: str | None = None
    best_trial: dict[str, Any] | None = None
    best_backbone: str | None = None
    best_trial_run_id: str | None = None
    refit_checkpoint: str | None = None
    refit_spec_fp: str | None = None
    refit_exec_fp: str | None = None
    refit_trial_number: int | None = None
    refit_mlflow_run_id: str | None = None
    report: dict[str, Any] | None = None


class ModelPayload(Payload):
    """A trained model: where training stopped, and whether it is the HPO refit's weights."""

    kind: ClassVar[str] = kinds.MODEL_KIND

    checkpoint_step: int | None = None
    global_step: int | None = None
    best_epoch: float | None = None
    resumed_from_step: int | None = None
    world_size: int | None = None
    precision: str | None = None
    trial_id: str | None = None
    reused_refit: dict[str, Any] | None = None


class OnnxPackagePayload(Payload):
    kind: ClassVar[str] = kinds.ONNX_PACKAGE_KIND

    model_artifact_id: str | None = None
    source_checkpoint: str | None = None
    model_spec_fp: str | None = None
    timings_s: dict[str, float] | None = None
    graph_optimization: dict[str, Any] | None = None


class EvaluationPayload(Payload):
    kind: ClassVar[str] = kinds.EVALUATION_KIND

    backend: str | None = None


class BenchmarkPayload(Payload):
    kind: ClassVar[str] = kinds.BENCHMARK_KIND

    purpose: str | None = None
    device: dict[str, Any] | None = None


class ReportPayload(Payload):
    kind: ClassVar[str] = kinds.REPORT_KIND

    served: str | None = None


PAYLOADS: dict[str, type[Payload]] = {
    model.kind: model
    for model in (
        SelectionPayload,
        StudyPayload,
        ModelPayload,
        OnnxPackagePayload,
        EvaluationPayload,
        BenchmarkPayload,
        ReportPayload,
    )
}
"""Payload model per artifact kind; kinds not listed (dataset) carry the base fields."""


def payload_of(manifest: Manifest, where: str | Path | None = None) -> Payload:
    """``manifest.extra`` validated as its kind's payload."""
    return PAYLOADS.get(manifest.kind, Payload).of(manifest, where)
