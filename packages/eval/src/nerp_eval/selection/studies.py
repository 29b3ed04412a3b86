"""HPO results as selection sees them: study artifacts from the index, trials from MLflow.

nerp-eval never opens an Optuna storage (it must not depend on nerp-hpo or optuna). What
a study produced reaches it through the records nerp-hpo writes:

- the **study artifact** (kind ``study``, stage ``hpo``): ``extra.study_name`` (the
  versioned Optuna name), ``direction``, ``objective_metric``, ``best_trial`` (number,
  params, value), ``best_backbone``, ``refit_checkpoint`` (path inside the artifact),
  ``refit_trial_number``, ``refit_mlflow_run_id``, ``mlflow_parent_run_id`` and
  ``report.trials_json``; ``config`` is the experiment config the study ran with;
- the **MLflow trial runs** under the parent run: tagged ``nerp.role=trial``,
  ``nerp.study_name`` and ``nerp.trial_number``, params as searched, the objective (mean
  over CV folds) as metric ``cv_mean``. Pruned trials end FINISHED with
  ``nerp.status_reason=pruned``, failed ones FAILED; only complete trials count.

A study run without tracking has no trial runs; its ``report/trials.json`` (named in
the manifest) is read instead, and the selection records which source it used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerp_eval.errors import SelectionError
from nerp_infra.artifacts import ArtifactIndex, Manifest, ManifestError, kinds
from nerp_infra.artifacts.kinds import STUDY_KIND
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.deprecation import deprecated_names
from nerp_infra.tags import tag_name

__all__ = [
    "BACKBONE_PARAM",
    "STUDY_KIND",
    "TRIAL_VALUE_METRIC",
    "StudyRecord",
    "TrialRecord",
    "find_studies",
    "read_trials",
    "study_record",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "HPO_STAGE": "nerp_infra.artifacts.kinds:HPO_STAGE",
    },
)

TRIAL_VALUE_METRIC = "cv_mean"
"""The metric a trial run logs as its objective value (mean over CV folds)."""
BACKBONE_PARAM = "backbone"
"""Trial parameter naming the backbone when one study searches several."""


@dataclass(frozen=True)
class TrialRecord:
    """One complete trial: number, objective value, params (as logged) and its run."""

    number: int
    value: float
    params: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None


@dataclass(frozen=True)
class StudyRecord:
    """What selection needs from one study artifact."""

    artifact_id: str
    artifact_dir: Path
    manifest: Manifest
    payload: StudyPayload
    """The manifest's ``extra``, validated once by :func:`study_record`."""
    study_name: str
    direction: str
    objective_metric: str
    backbone: str
    """The backbone trained (``model.backbone`` value) when the study has one backbone."""
    best_trial: Mapping[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None

    @property
    def refit_checkpoint(self) -> Path | None:
        relative = self.payload.refit_checkpoint
        return self.artifact_dir / relative if relative else None

    @property
    def refit_trial_number(self) -> int | None:
        payload = self.payload
        if "refit_trial_number" in payload.model_fields_set:
            return payload.refit_trial_number
        number = self.best_trial.get("number")
        return int(number) if isinstance(number, int | float) else None

    @property
    def refit_run_id(self) -> str | None:
        return self.payload.refit_mlflow_run_id or None

    @property
    def data_fp(self) -> str | None:
        return self.manifest.fingerprints.get("data_fp")

    @property
    def searched_backbones(self) -> bool:
        """Whether trials draw the backbone (one study over several backbones)."""
        hpo = self.manifest.config.get("hpo")
        return isinstance(hpo, Mapping) and hpo.get("study_per_backbone") is False

    @property
    def base_train(self) -> Mapping[str, Any]:
        train = self.manifest.config.get("train")
        return train if isinstance(train, Mapping) else {}

    def trials_file(self) -> Path | None:
        relative = (self.payload.report or {}).get("trials_json")
        return self.artifact_dir / relative if isinstance(relative, str) and relative else None


def _config_value(config: Mapping[str, Any], section: str, key: str) -> Any:
    part = config.get(section)
    return part.get(key) if isinstance(part, Mapping) else None


def study_record(manifest: Manifest, artifact_dir: Path) -> StudyRecord:
    """The fields selection uses, from a study manifest; errors name the missing field."""
    try:
        extra = StudyPayload.of(manifest, artifact_dir)
    except ManifestError as exc:
        raise SelectionError(str(exc)) from None
    config = manifest.config
    study_name = extra.study_name
    if not study_name:
        raise SelectionError(
            f"{artifact_dir / 'nerp.json'}: study artifact {manifest.id} has no "
            "extra.study_name; it was not written by nerp hpo"
        )
    backbone = (
        extra.best_backbone or _config_value(config, "model", "backbone") or manifest.backbone
    )
    return StudyRecord(
        artifact_id=manifest.id,
        artifact_dir=artifact_dir,
        manifest=manifest,
        payload=extra,
        study_name=str(study_name),
        direction=str(extra.direction or _config_value(config, "hpo", "direction") or "maximize"),
        objective_metric=str(
            extra.objective_metric or _config_value(config, "hpo", "objective_metric") or "f1_macro"
        ),
        backbone=str(backbone),
        best_trial=dict(extra.best_trial or {}),
        parent_run_id=extra.mlflow_parent_run_id or None,
    )


def find_studies(
    index: ArtifactIndex,
    *,
    data_fp: str | None = None,
    study_ids: Sequence[str] = (),
) -> list[StudyRecord]:
    """Complete study artifacts: the given ids, or every study (of the dataset ``data_fp``
    when given). Of several versions of one study key, the newest complete one counts
    (a re-run replaces, not adds to, the evidence)."""
    if study_ids:
        found = [index.get(i) for i in study_ids]
        bad = [a.id for a in found if a.manifest.kind != STUDY_KIND]
        if bad:
            raise SelectionError(f"artifact(s) {', '.join(bad)} are not studies")
        incomplete = [a.id for a in found if a.status != "complete"]
        if incomplete:
            raise SelectionError(f"study artifact(s) {', '.join(incomplete)} are not complete")
    else:
        found = index.find(kind=STUDY_KIND, stage=kinds.HPO_STAGE, status="complete")
        if data_fp is not None:
            found = [a for a in found if a.manifest.fingerprints.get("data_fp") == data_fp]
    latest: dict[tuple[str, str], Any] = {}
    for artifact in found:
        if not artifact.path.is_dir():
            continue
        latest[(artifact.manifest.backbone, artifact.manifest.key)] = artifact
    return [study_record(a.read_manifest(), a.path) for a in latest.values()]


def _mlflow_trials(
    study: StudyRecord, experiment_prefix: str
) -> tuple[list[TrialRecord], list[str], bool]:
    """(trials, notes, whether any trial run was found) from MLflow."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from nerp_infra.tracking import experiment_name

    client = MlflowClient()
    name = experiment_name(experiment_prefix, kinds.HPO_STAGE)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return [], [f"no MLflow experiment {name!r}"], False
    filters = [
        f"tags.\"{tag_name('role')}\" = 'trial'",
        f"tags.\"{tag_name('study_name')}\" = '{study.study_name}'",
    ]
    if study.parent_run_id:
        filters.append(f"tags.\"mlflow.parentRunId\" = '{study.parent_run_id}'")
    runs: list[Any] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=" AND ".join(filters),
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    notes: list[str] = []
    by_number: dict[int, TrialRecord] = {}
    reason_tag, number_tag = tag_name("status_reason"), tag_name("trial_number")
    for run in runs:
        tags = run.data.tags
        text = tags.get(number_tag, "")
        if not text.isdigit():
            notes.append(f"run {run.info.run_id}: no {number_tag} tag, skipped")
            continue
        number = int(text)
        if run.info.status != "FINISHED":
            notes.append(f"trial {number}: {run.info.status.lower()}")
            continue
        if tags.get(reason_tag) == "pruned":
            notes.append(f"trial {number}: pruned")
            continue
        value = run.data.metrics.get(TRIAL_VALUE_METRIC)
        if value is None or not math.isfinite(value):
            notes.append(f"trial {number}: no {TRIAL_VALUE_METRIC} metric")
            continue
        by_number[number] = TrialRecord(
            number, float(value), dict(run.data.params), run.info.run_id
        )
    return [by_number[n] for n in sorted(by_number)], notes, bool(runs)


def _file_trials(path: Path) -> tuple[list[TrialRecord], list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SelectionError(f"{path}: cannot read the study's trials: {exc}") from exc
    rows = data.get("trials") if isinstance(data, Mapping) else None
    if not isinstance(rows, list):
        raise SelectionError(f"{path}: field 'trials' is missing or not a list")
    trials, notes = [], []
    for row in rows:
        state, number, value = row.get("state"), row.get("number"), row.get("value")
        if state != "COMPLETE":
            notes.append(f"trial {number}: {str(state).lower()}")
            continue
        if not isinstance(value, int | float) or not math.isfinite(value):
            notes.append(f"trial {number}: no value")
            continue
        params = {k.removeprefix("param."): v for k, v in row.items() if k.startswith("param.")}
        trials.append(TrialRecord(int(number), float(value), params))
    return trials, notes


def read_trials(
    study: StudyRecord, *, experiment_prefix: str = "nerp", use_mlflow: bool = True
) -> tuple[list[TrialRecord], list[str], str]:
    """Complete trials of a study, notes on the rest, and the source read.

    MLflow trial runs first (the tracking URI must be set up); without any trial run
    there, the ``report.trials_json`` file the manifest names.
    """
    notes: list[str] = []
    if use_mlflow:
        trials, notes, found = _mlflow_trials(study, experiment_prefix)
        if found:
            return trials, notes, "mlflow"
    path = study.trials_file()
    if path is None or not path.is_file():
        where = "no MLflow trial runs" if use_mlflow else "tracking is off"
        raise SelectionError(
            f"study {study.study_name} (artifact {study.artifact_id}): {where} and no "
            f"report.trials_json file in {study.artifact_dir}; cannot read its trials"
        )
    trials, file_notes = _file_trials(path)
    return trials, notes + file_notes, f"file {path.name}"
