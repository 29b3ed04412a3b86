"""``nerp select``: the champion across studies and backbones, written as a selection artifact.

Flow: complete study artifacts → their complete trials (MLflow) → groups scored and a
champion per backbone (:mod:`nerp_eval.selection.decide`) → each candidate's refit
checkpoint acquired, converted when latency is measured on ONNX, and benchmarked (real
``benchmark`` artifacts, reused when present) → the configured trade-off → a
``selection`` artifact whose ``extra["champion"]`` final training reads:

    {"backbone": str, "params": {TrainConfig fields}, "trial_id": str | None,
     "study_artifact_id": str | None}

``selection.json`` in the artifact records every group, candidate, score, latency and the
rule that decided. The artifact is keyed by ``select_fp`` (the studies' trial values, the
selection settings and the latency measurement settings), so re-running with the same
inputs returns it unless the run mode is ``force_new``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from nerp_eval.acquire import acquire_checkpoint
from nerp_eval.benchmark.run import benchmark_settings, run_benchmark
from nerp_eval.benchmark.texts import benchmark_texts
from nerp_eval.errors import SelectionError
from nerp_eval.selection.decide import (
    Candidate,
    Decision,
    GroupScore,
    champion_per_backbone,
    decide,
    score_group,
)
from nerp_eval.selection.studies import (
    BACKBONE_PARAM,
    StudyRecord,
    TrialRecord,
    find_studies,
    read_trials,
)
from nerp_eval.targets import InferenceTarget, resolve_target
from nerp_eval.tracking import run_name
from nerp_infra.artifacts import ArtifactIndex, RunMode, begin_artifact, kinds
from nerp_infra.artifacts.kinds import SELECTION_KIND
from nerp_infra.artifacts.payloads import Champion, SelectionPayload
from nerp_infra.config import (
    BenchmarkConfig,
    ConversionConfig,
    NamingConfig,
    SelectionConfig,
    TrackingConfig,
    TrainConfig,
)
from nerp_infra.deprecation import deprecated_names
from nerp_infra.documents import Document
from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import ANY_BACKBONE, OutputLayout, backbone_component
from nerp_infra.tags import build_tags, register_tag
from nerp_infra.tracking import log_metrics, log_params, setup_mlflow, tracked_stage

__all__ = [
    "SELECTION_FILE",
    "SELECTION_KIND",
    "SelectionRun",
    "champion_params",
    "run_selection",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "SELECTION_STAGE": "nerp_infra.artifacts.kinds:SELECT_STAGE",
    },
)

SELECTION_FILE = "selection.json"
SELECT_FP_FORMAT = 1
LATENCY_STATISTIC = "p50_ms"

register_tag("decision", "why a selection chose its champion (rule and figures)")


@dataclass(frozen=True)
class SelectionRun:
    """The selection artifact and what it decided (read back from disk when reused)."""

    artifact_id: str
    artifact_dir: Path
    action: str
    champion: dict[str, Any]
    report: dict[str, Any]

    @property
    def rule(self) -> str:
        return str(self.report["decision"]["rule"])

    @property
    def reason(self) -> str:
        return str(self.report["decision"]["reason"])


@dataclass
class _StudyTrials:
    study: StudyRecord
    trials: list[TrialRecord]
    notes: list[str]
    source: str
    groups: list[GroupScore] = field(default_factory=list)


def _note(console: Console | None, message: str) -> None:
    if console is not None:
        console.print(f"[bold]select[/] {message}", highlight=False)


def _partition(study: StudyRecord, trials: Sequence[TrialRecord]) -> dict[str, list[TrialRecord]]:
    """Trials per backbone: all of them for a one-backbone study, else by the drawn value."""
    if not study.searched_backbones:
        return {study.backbone: list(trials)}
    parts: dict[str, list[TrialRecord]] = {}
    for trial in trials:
        parts.setdefault(str(trial.params.get(BACKBONE_PARAM, study.backbone)), []).append(trial)
    return parts


def _score_study(item: _StudyTrials, config: SelectionConfig) -> None:
    study = item.study
    if study.direction != "maximize":
        item.groups.append(
            GroupScore(
                study_artifact_id=study.artifact_id,
                study_name=study.study_name,
                backbone=study.backbone,
                n_complete=len(item.trials),
                top_values=[],
                score=None,
                eligible=False,
                reason=(
                    f"direction {study.direction}: selection compares maximised metrics "
                    "(F1, precision, recall)"
                ),
            )
        )
        return
    parts = _partition(study, item.trials) or {study.backbone: []}
    for backbone, trials in parts.items():
        item.groups.append(
            score_group(
                study_artifact_id=study.artifact_id,
                study_name=study.study_name,
                backbone=backbone,
                trials=trials,
                config=config,
            )
        )


def _champion_trial(group: GroupScore, item: _StudyTrials) -> TrialRecord:
    """The group's best trial; on a tie, the one the study refitted."""
    best = group.best_trial
    assert best is not None
    refit = item.study.refit_trial_number
    for trial in item.trials:
        if trial.number == refit and abs(trial.value - best.value) <= 1e-12:
            return trial
    return best


def champion_params(
    study: StudyRecord, trial: TrialRecord, base_train: TrainConfig
) -> dict[str, Any]:
    """Every TrainConfig field for the champion: the study's base ``train`` section with
    the trial's searched values applied (typed values from the manifest's best trial when
    it is that trial, else the values logged to MLflow, validated by TrainConfig)."""
    base = dict(study.base_train) or base_train.model_dump(mode="json")
    params: dict[str, Any] = dict(trial.params)
    best = study.best_trial
    if best.get("number") == trial.number and isinstance(best.get("params"), dict):
        params = dict(best["params"])
    fields = TrainConfig.model_fields
    merged = {**base, **{k: v for k, v in params.items() if k in fields}}
    try:
        return TrainConfig.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        raise SelectionError(
            f"study {study.study_name} trial {trial.number}: its parameters do not make a valid "
            f"train config: {exc.errors(include_url=False)[0]['loc']}: "
            f"{exc.errors(include_url=False)[0]['msg']}"
        ) from exc


def _dataset_documents(index: ArtifactIndex, studies: Sequence[StudyRecord]) -> list[Document]:
    """Test documents of the studies' dataset (the benchmark texts), if it is here."""
    from nerp_training.data import load_dataset

    for study in studies:
        for parent in study.manifest.lineage:
            if parent not in index:
                continue
            found = index.get(parent)
            if found.manifest.kind == kinds.DATASET_KIND and found.status == "complete":
                return list(load_dataset(found.path).test)
    return []


def _select_fp(
    studies: Sequence[_StudyTrials],
    selection: SelectionConfig,
    latency: dict[str, Any],
) -> str:
    return fingerprint(
        {
            "fp": "select",
            "format": SELECT_FP_FORMAT,
            "studies": [
                {
                    "artifact_id": item.study.artifact_id,
                    "updated_at": item.study.manifest.updated_at.isoformat(),
                    "trials": [[t.number, t.value] for t in item.trials],
                }
                for item in studies
            ],
            "selection": selection.model_dump(mode="json", exclude={"run_mode"}),
            "latency": latency,
        }
    )


def _measure(
    candidate: Candidate,
    item: _StudyTrials,
    *,
    texts: Sequence[str],
    selection: SelectionConfig,
    benchmark: BenchmarkConfig,
    conversion: ConversionConfig,
    index: ArtifactIndex,
    layout: OutputLayout,
    tracking: TrackingConfig | None,
    naming: NamingConfig | None,
    console: Console | None,
) -> dict[str, Any]:
    """Acquire, (convert,) benchmark one candidate; fills its latency, returns a record."""
    study = item.study
    acquired = acquire_checkpoint(
        study.artifact_id,
        index=index,
        output_root=layout.root,
        mlflow_run_ids=[study.refit_run_id] if study.refit_run_id else (),
        tracking=tracking,
    )
    backend = selection.latency_backend
    target: InferenceTarget
    package_id = None
    if backend == "torch":
        target = resolve_target(acquired.model_dir, "torch")
    else:
        from nerp_deploy.convert import run_conversion

        converted = run_conversion(
            acquired.model_dir,
            output_root=layout.root,
            config=conversion,
            layout=layout.layout,
        )
        package_id = converted.manifest.id
        target = resolve_target(converted.package_dir, backend)
    target = InferenceTarget(
        backend=target.backend,
        path=target.path,
        artifact_id=target.artifact_id,
        backbone=backbone_component(candidate.backbone),
        settings=target.settings,
        manifest=target.manifest,
        artifact_dir=target.artifact_dir,
    )
    bench = run_benchmark(
        [target],
        texts,
        config=benchmark,
        index=index,
        layout=layout,
        batch_sizes=[selection.latency_batch_size],
        tracking=tracking,
        naming=naming,
        chart=False,
        purpose="selection",
        lineage=[study.artifact_id],
    )
    timing = bench.timing(backend, selection.latency_batch_size)
    candidate.latency_ms = float(getattr(timing.latency, LATENCY_STATISTIC))
    candidate.benchmark_id = bench.artifact_id
    _note(
        console,
        f"{candidate.backbone}: {backend} {LATENCY_STATISTIC} {candidate.latency_ms:.2f} ms at "
        f"batch {selection.latency_batch_size} ({bench.action} benchmark {bench.artifact_id})",
    )
    return {
        "backbone": candidate.backbone,
        "checkpoint": str(acquired.model_dir),
        "checkpoint_source": acquired.source,
        "onnx_package_id": package_id,
        "benchmark_id": bench.artifact_id,
        "benchmark_action": bench.action,
        "latency": timing.as_dict(),
    }


def run_selection(
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    selection: SelectionConfig,
    benchmark: BenchmarkConfig,
    conversion: ConversionConfig | None = None,
    base_train: TrainConfig | None = None,
    tracking: TrackingConfig | None = None,
    naming: NamingConfig | None = None,
    run_mode: RunMode | None = None,
    data_fp: str | None = None,
    study_ids: Sequence[str] = (),
    texts: Sequence[str] | None = None,
    console: Console | None = None,
) -> SelectionRun:
    """Pick the champion (see module doc) and write or reuse the selection artifact.

    ``data_fp`` limits the studies to one dataset; ``study_ids`` names them instead.
    ``texts`` are the latency texts (default: the studies' dataset test documents, else
    synthetic resumes); benchmark warm-up, iterations and threads come from ``benchmark``.
    """
    conversion = conversion or ConversionConfig()
    base_train = base_train or TrainConfig()
    studies = find_studies(index, data_fp=data_fp, study_ids=study_ids)
    if not studies:
        scope = f" for dataset {data_fp[:12]}…" if data_fp else ""
        raise SelectionError(
            f"no complete study artifacts{scope} in {index.root}; run `nerp hpo run` first"
        )
    tracking_on = tracking is not None and tracking.enabled
    if tracking_on:
        assert tracking is not None
        setup_mlflow(config_uri=tracking.uri, output_root=layout.root)
    prefix = tracking.experiment_prefix if tracking is not None else "nerp"
    items = []
    for study in studies:
        trials, notes, source = read_trials(study, experiment_prefix=prefix, use_mlflow=tracking_on)
        item = _StudyTrials(study, trials, notes, source)
        _score_study(item, selection)
        items.append(item)
    groups = [g for item in items for g in item.groups]
    champions = champion_per_backbone(groups)
    if not champions:
        detail = "; ".join(f"{g.study_name}/{g.backbone}: {g.reason}" for g in groups)
        raise SelectionError(f"no study has enough complete trials to select from ({detail})")
    by_study = {item.study.artifact_id: item for item in items}
    if texts is None:
        texts = benchmark_texts(benchmark.n_texts, _dataset_documents(index, studies))
    probe_settings = benchmark_settings([], benchmark, texts, [selection.latency_batch_size])
    latency = {
        "backend": selection.latency_backend,
        "batch_size": selection.latency_batch_size,
        "statistic": LATENCY_STATISTIC,
        "benchmark": {k: v for k, v in probe_settings.items() if k != "backends"},
        "conversion": conversion.model_dump(mode="json", exclude={"run_mode", "log_to_mlflow"})
        if selection.latency_backend != "torch"
        else None,
    }
    fp = _select_fp(items, selection, latency)
    decision = begin_artifact(
        index,
        layout,
        kind=SELECTION_KIND,
        stage=kinds.SELECT_STAGE,
        backbone=ANY_BACKBONE,
        fingerprints={"select_fp": fp},
        lineage=[item.study.artifact_id for item in items],
        config={
            "selection": selection.model_dump(mode="json"),
            "benchmark": benchmark.model_dump(mode="json"),
        },
        run_mode=run_mode or selection.run_mode,
    )
    handle = decision.handle
    if not decision.should_run:
        report = json.loads((handle.dir / SELECTION_FILE).read_text())
        _note(console, f"reusing selection {handle.id}: {report['champion']['backbone']}")
        return SelectionRun(handle.id, handle.dir, "reuse", report["champion"], report)
    with handle.failing_on_error():
        candidates = []
        for backbone, group in sorted(champions.items()):
            item = by_study[group.study_artifact_id]
            trial = _champion_trial(group, item)
            assert group.score is not None
            candidates.append(
                Candidate(
                    backbone=backbone,
                    score=group.score,
                    study_artifact_id=group.study_artifact_id,
                    trial=trial,
                )
            )
        excluded: list[dict[str, Any]] = []
        measurements: list[dict[str, Any]] = []
        if len(candidates) > 1:
            usable = []
            for candidate in candidates:
                item = by_study[candidate.study_artifact_id]
                if item.study.refit_trial_number != candidate.trial.number:
                    excluded.append(
                        {
                            "backbone": candidate.backbone,
                            "reason": (
                                f"its best trial {candidate.trial.number} has no refit checkpoint "
                                f"(study {item.study.study_name} refitted trial "
                                f"{item.study.refit_trial_number}); run one study per backbone "
                                "(hpo.study_per_backbone) to compare backbones on latency"
                            ),
                        }
                    )
                    continue
                measurements.append(
                    _measure(
                        candidate,
                        item,
                        texts=texts,
                        selection=selection,
                        benchmark=benchmark,
                        conversion=conversion,
                        index=index,
                        layout=layout,
                        tracking=tracking,
                        naming=naming,
                        console=console,
                    )
                )
                usable.append(candidate)
            candidates = usable
        latency_label = (
            f"{selection.latency_backend} {LATENCY_STATISTIC} at batch size "
            f"{selection.latency_batch_size}"
        )
        outcome: Decision = decide(candidates, selection, latency_label=latency_label)
        winner = outcome.winner
        study = by_study[winner.study_artifact_id].study
        champion = {
            "backbone": winner.backbone,
            "params": champion_params(study, winner.trial, base_train),
            "trial_id": winner.trial.run_id,
            "study_artifact_id": winner.study_artifact_id,
        }
        report = {
            "champion": champion,
            "decision": outcome.as_dict(),
            "trial_number": winner.trial.number,
            "refit_checkpoint": str(study.refit_checkpoint) if study.refit_checkpoint else None,
            "latency": {k: v for k, v in latency.items() if k != "benchmark"},
            "measurements": measurements,
            "excluded": excluded,
            "groups": [g.as_dict() for g in groups],
            "studies": [
                {
                    "artifact_id": item.study.artifact_id,
                    "study_name": item.study.study_name,
                    "backbone": item.study.backbone,
                    "objective_metric": item.study.objective_metric,
                    "trials_source": item.source,
                    "complete_trials": len(item.trials),
                    "notes": item.notes,
                }
                for item in items
            ],
        }
        (handle.dir / SELECTION_FILE).write_text(json.dumps(report, indent=1) + "\n")
        _note(console, f"champion {winner.backbone} ({outcome.rule}): {outcome.reason}")
        run_id = _track(
            report, outcome, handle.id, handle.manifest.variant, items, layout, tracking, naming,
            index,
        )  # fmt: skip
        handle.complete(
            metrics={
                "score": winner.score,
                "latency_ms": winner.latency_ms,
                "n_candidates": len(outcome.candidates),
                "n_groups": len(groups),
            },
            extra=SelectionPayload(
                champion=Champion.model_validate(champion),
                decision={
                    "rule": outcome.rule,
                    "reason": outcome.reason,
                    "winner": winner.backbone,
                    "strategy": outcome.strategy,
                },
                mlflow_run_id=run_id,
            ).as_extra(),
        )
    return SelectionRun(handle.id, handle.dir, decision.action, champion, report)


def _track(
    report: dict[str, Any],
    outcome: Decision,
    artifact_id: str,
    variant: int,
    items: Sequence[_StudyTrials],
    layout: OutputLayout,
    tracking: TrackingConfig | None,
    naming: NamingConfig | None,
    index: ArtifactIndex,
) -> str | None:
    first = items[0].study.manifest.config.get("hpo")
    study_base = first.get("study_name") if isinstance(first, dict) else None
    name = run_name(naming or NamingConfig(), "selection", index, study=study_base or "studies")
    tags = build_tags(
        backbone=backbone_component(outcome.winner.backbone),
        artifact_id=artifact_id,
        artifact_kind=SELECTION_KIND,
        lineage=[item.study.artifact_id for item in items],
        variant=variant,
        decision=f"{outcome.rule}: {outcome.reason}"[:5000],
    )
    with tracked_stage(
        tracking, layout.root, stage=kinds.SELECT_STAGE, name=name, tags=tags
    ) as run_id:
        if run_id is None:
            return None
        import mlflow

        log_params(
            {
                "strategy": outcome.strategy,
                "rule": outcome.rule,
                "champion": outcome.winner.backbone,
                "candidates": ",".join(c.backbone for c in outcome.candidates),
            }
        )
        metrics: dict[str, float] = {}
        for c in outcome.candidates:
            name = backbone_component(c.backbone)
            metrics[f"score.{name}"] = c.score
            if c.latency_ms is not None:
                metrics[f"latency_ms.{name}"] = c.latency_ms
            if c.composite is not None:
                metrics[f"composite.{name}"] = c.composite
        log_metrics(metrics)
        mlflow.log_dict(report, SELECTION_FILE)
        return run_id
