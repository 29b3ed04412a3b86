"""Gather what a pipeline produced under one output root, from the index and manifests.

Everything shown in the report comes from artifact files (never recomputed), so the
figures on the page are the figures in the artifacts; :class:`ReportData` is also saved
as ``report.json`` next to the page for tools and tests to compare against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nerp_eval.benchmark.run import BENCHMARK_FILE, BENCHMARK_KIND
from nerp_eval.evaluation.examples import EXAMPLES_FILE
from nerp_eval.evaluation.run import EVALUATION_FILE, EVALUATION_KIND
from nerp_eval.report.importance import parameter_importance
from nerp_eval.selection.run import SELECTION_FILE, SELECTION_KIND
from nerp_eval.selection.studies import STUDY_KIND, read_trials, study_record
from nerp_infra.artifacts import ArtifactIndex, IndexedArtifact, Manifest
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import TrackingConfig

__all__ = [
    "DATASET_KIND",
    "MODEL_KIND",
    "PACKAGE_KIND",
    "ReportData",
    "collect_report_data",
]

DATASET_KIND = "dataset"
MODEL_KIND = "model"
PACKAGE_KIND = "onnx_package"
STATS_FILE = "stats.json"
_MAX_EVALUATIONS = 6


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _summary(artifact: IndexedArtifact | Manifest) -> dict[str, Any]:
    manifest = artifact if isinstance(artifact, Manifest) else artifact.manifest
    return {
        "id": manifest.id,
        "kind": manifest.kind,
        "stage": manifest.stage,
        "backbone": manifest.backbone,
        "variant": manifest.variant,
        "status": manifest.status,
        "fingerprints": dict(manifest.fingerprints),
        "created_at": manifest.created_at.isoformat(),
        "path": str(artifact.path) if isinstance(artifact, IndexedArtifact) else None,
    }


@dataclass
class ReportData:
    """Everything the report shows, as plain JSON-ready data."""

    output_root: str
    generated_at: str
    dataset: dict[str, Any] | None = None
    studies: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, Any] | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    """Each with ``report`` (evaluation.json) and ``examples`` (examples.json, or None for an
    evaluation made before nerp-eval wrote it)."""
    benchmark: dict[str, Any] | None = None
    served: dict[str, Any] | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)
    artifact_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dataset(index: ArtifactIndex, wanted: str | None) -> dict[str, Any] | None:
    if wanted is not None:
        found = index.get(wanted) if wanted in index else None
    else:
        found = index.latest(DATASET_KIND)
    if found is None:
        return None
    stats = _read_json(found.path / STATS_FILE) or {}
    return {**_summary(found), "metrics": dict(found.manifest.metrics), "stats": stats}


def _study(artifact: IndexedArtifact, tracking: TrackingConfig | None) -> dict[str, Any]:
    manifest = artifact.read_manifest()
    record = study_record(manifest, artifact.path)
    trials: list[dict[str, Any]] = []
    source = None
    trials_file = record.trials_file()
    data = _read_json(trials_file) if trials_file is not None else None
    if (
        trials_file is not None
        and isinstance(data, Mapping)
        and isinstance(data.get("trials"), list)
    ):
        source = f"file {trials_file.relative_to(artifact.path).as_posix()}"
        for row in data["trials"]:
            trials.append(
                {
                    "number": row.get("number"),
                    "state": row.get("state"),
                    "value": row.get("value"),
                    "params": {
                        k.removeprefix("param."): v
                        for k, v in row.items()
                        if k.startswith("param.")
                    },
                }
            )
    elif tracking is not None and tracking.enabled:
        complete, _notes, source = read_trials(record, experiment_prefix=tracking.experiment_prefix)
        trials = [
            {"number": t.number, "state": "COMPLETE", "value": t.value, "params": dict(t.params)}
            for t in complete
        ]
    plots = (StudyPayload.of(manifest, artifact.path).report or {}).get("plots", {})
    complete_trials = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    return {
        **_summary(artifact),
        "study_name": record.study_name,
        "objective_metric": record.objective_metric,
        "direction": record.direction,
        "metrics": dict(manifest.metrics),
        "best_trial": dict(record.best_trial),
        "trials": sorted(trials, key=lambda t: t["number"] if t["number"] is not None else -1),
        "trials_source": source,
        "importance": parameter_importance(complete_trials),
        "importance_method": "variance explained alone: Spearman² (numbers), η² (choices)",
        "plots": {k: str(artifact.path / v) for k, v in plots.items()},
    }


def _newest_served(index: ArtifactIndex) -> IndexedArtifact | None:
    """With nothing named: the newest complete ONNX package made from a final model (not a
    selection candidate's), else the newest model."""
    models = index.find(kind=MODEL_KIND, status="complete")
    model_ids = {m.id for m in models}
    packages = [
        p
        for p in index.find(kind=PACKAGE_KIND, status="complete")
        if set(p.manifest.lineage) & model_ids
    ]
    if packages:
        return packages[-1]
    return models[-1] if models else None


def _latest_with_file(
    index: ArtifactIndex, kind: str, filename: str, keep: Any = None
) -> list[tuple[IndexedArtifact, Any]]:
    found = []
    for artifact in index.find(kind=kind, status="complete"):
        data = _read_json(artifact.path / filename)
        if data is not None and (keep is None or keep(artifact, data)):
            found.append((artifact, data))
    return found


def collect_report_data(
    index: ArtifactIndex,
    *,
    served: IndexedArtifact | None = None,
    tracking: TrackingConfig | None = None,
) -> ReportData:
    """Read what the report shows: ``served`` (the model or ONNX package the report is
    about; the pipeline and ``nerp report`` pass the experiment's) with its lineage, and the
    dataset, studies, selection, evaluations and benchmark of that lineage.

    Without ``served`` (an output root holding no model yet, or a caller that names none)
    it shows the newest of each, as an overview of the root.
    """
    data = ReportData(
        output_root=str(index.root),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    overview = served is None
    if served is None:
        served = _newest_served(index)
    lineage: list[IndexedArtifact] = []
    if served is not None:
        lineage = [served, *index.lineage(served.id)]
        data.served = _summary(served)
        data.lineage = [_summary(a) for a in lineage]
    in_lineage = {a.id for a in lineage}
    dataset_id = next((a.id for a in lineage if a.manifest.kind == DATASET_KIND), None)
    data.dataset = _dataset(index, dataset_id)
    if tracking is not None and tracking.enabled:
        from nerp_infra.tracking import setup_mlflow

        setup_mlflow(config_uri=tracking.uri, output_root=index.root)
    studies = index.find(kind=STUDY_KIND, status="complete")
    if data.dataset is not None:
        data_fp = data.dataset["fingerprints"].get("data_fp")
        studies = [s for s in studies if s.manifest.fingerprints.get("data_fp") in (None, data_fp)]
    data.studies = [_study(s, tracking) for s in studies if s.path.is_dir()]

    def related(found: list[tuple[IndexedArtifact, Any]]) -> list[tuple[IndexedArtifact, Any]]:
        """Those in or made from the lineage; with no lineage named, all of them."""
        mine = [
            f for f in found if f[0].id in in_lineage or set(f[0].manifest.lineage) & in_lineage
        ]
        return mine if mine or not overview else found

    selections = related(_latest_with_file(index, SELECTION_KIND, SELECTION_FILE))
    if selections:
        artifact, report = selections[-1]
        data.selection = {**_summary(artifact), "report": report}
    evaluations = related(_latest_with_file(index, EVALUATION_KIND, EVALUATION_FILE))
    data.evaluations = [
        {**_summary(a), "report": report, "examples": _read_json(a.path / EXAMPLES_FILE)}
        for a, report in evaluations[-_MAX_EVALUATIONS:]
    ]
    benchmarks = related(
        _latest_with_file(
            index,
            BENCHMARK_KIND,
            BENCHMARK_FILE,
            keep=lambda _a, report: report.get("purpose") == "benchmark",
        )
    )
    if benchmarks:
        artifact, report = benchmarks[-1]
        data.benchmark = {**_summary(artifact), "report": report}
    ids: list[str] = [a.id for a in lineage]
    for part in (data.dataset, data.selection, data.benchmark, *data.studies, *data.evaluations):
        if part is not None:
            ids.append(part["id"])
    data.artifact_ids = sorted(set(ids))
    return data


def updated_stamps(index: ArtifactIndex, ids: Sequence[str]) -> dict[str, str]:
    """``updated_at`` of each artifact, for the report fingerprint (an artifact changed
    since the last report makes a new one)."""
    return {i: index.get(i).manifest.updated_at.isoformat() for i in ids if i in index}
