"""Where studies stand: trials by state against the budget, and the best trial so far."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_hpo.errors import HpoError
from nerp_hpo.plan import storage_for
from nerp_hpo.reports import best_trial_summary
from nerp_hpo.session import ATTR_BUDGET, open_study
from nerp_hpo.storage import redact_url
from nerp_hpo.study import find_study_artifacts
from nerp_hpo.trials import TrialCounts, count_trials
from nerp_infra.artifacts import Manifest
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import ExperimentConfig

__all__ = ["StudyStatus", "describe_study", "studies_status"]


@dataclass(frozen=True)
class StudyStatus:
    """One study: storage, artifact state, trial counts and the best trial."""

    study_name: str
    storage: str
    counts: TrialCounts
    budget: int | None
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any]
    artifact_id: str | None = None
    artifact_status: str | None = None
    artifact_dir: Path | None = None
    version: int | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.budget is not None and self.counts.finished >= self.budget


def describe_study(
    study_name: str,
    storage_url: str,
    *,
    manifest: Manifest | None = None,
    directory: Path | None = None,
) -> StudyStatus:
    """The status of one study, read from its storage (no sampler, no side effects)."""
    study = open_study(study_name, storage_url)
    best = best_trial_summary(study)
    budget = study.user_attrs.get(ATTR_BUDGET)
    return StudyStatus(
        study_name=study_name,
        storage=redact_url(storage_url),
        counts=count_trials(study),
        budget=int(budget) if budget is not None else None,
        best_value=None if best is None else float(best["value"]),
        best_trial=None if best is None else int(best["number"]),
        best_params={} if best is None else dict(best["params"]),
        artifact_id=None if manifest is None else manifest.id,
        artifact_status=None if manifest is None else manifest.status,
        artifact_dir=directory,
        version=None if manifest is None else manifest.variant,
    )


def studies_status(
    config: ExperimentConfig, *, output_root: Path | None = None, backbone: str | None = None
) -> list[StudyStatus]:
    """Every version of the config's studies under the output root, oldest first."""
    found: list[StudyStatus] = []
    for directory, manifest in find_study_artifacts(
        config, output_root=output_root, backbone=backbone
    ):
        payload = StudyPayload.of(manifest, directory)
        name = payload.study_name
        if not name:
            continue
        url = storage_for(config, manifest.extra, directory)
        try:
            found.append(describe_study(str(name), url, manifest=manifest, directory=directory))
        except HpoError as exc:
            found.append(
                StudyStatus(
                    study_name=str(name),
                    storage=redact_url(url),
                    counts=TrialCounts(),
                    budget=payload.budget,
                    best_value=manifest.metrics.get("best_value"),
                    best_trial=None,
                    best_params={},
                    artifact_id=manifest.id,
                    artifact_status=manifest.status,
                    artifact_dir=directory,
                    version=manifest.variant,
                    error=str(exc),
                )
            )
    return found
