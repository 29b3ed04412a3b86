"""Which study a config means: its key, search space, fingerprints and budget; and what a
study run returns (:class:`StudyOutcome`). Nothing here touches a storage or an artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from optuna.distributions import BaseDistribution

from nerp_hpo.errors import HpoError
from nerp_hpo.pruners import build_pruner
from nerp_hpo.samplers import grid_size
from nerp_hpo.space import build_distributions
from nerp_hpo.storage import default_storage_url
from nerp_infra.artifacts import Manifest
from nerp_infra.artifacts.kinds import STUDY_KIND
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import ExperimentConfig
from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import ANY_BACKBONE, backbone_component, slug

__all__ = [
    "REPORT_DIR",
    "SPACE_FP_FORMAT",
    "STUDY_KIND",
    "TRIALS_DIR",
    "Action",
    "StudyOutcome",
    "StudyPlan",
    "outcome_from_manifest",
    "plan_study",
    "space_fingerprint",
    "storage_for",
    "study_backbones",
    "study_output_root",
]

TRIALS_DIR = "trials"
REPORT_DIR = "report"
SPACE_FP_FORMAT = 1

Action = Literal["reuse", "resume", "new", "worker"]


@dataclass(frozen=True)
class StudyOutcome:
    """What a study run produced (or what a reused study holds).

    ``storage_url`` is the URL as configured (it may hold a password); the manifest
    keeps a redacted copy. ``refit_checkpoint`` is the refit's ``model/`` directory.
    """

    artifact_id: str
    artifact_dir: Path
    study_name: str
    storage_url: str
    backbone: str
    version: int
    action: Action
    status: str
    best_value: float | None
    best_trial: dict[str, Any] | None
    n_complete: int
    n_pruned: int
    n_failed: int
    refit_checkpoint: Path | None = None
    mlflow_parent_run_id: str | None = None
    report_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyPlan:
    """What a study searches, before any storage or artifact is touched."""

    config: ExperimentConfig
    backbone: str
    """Backbone name for paths and run names (``all`` when the backbone is searched)."""
    train_backbone: str
    """Backbone trained when a trial does not draw one."""
    key: str
    distributions: dict[str, BaseDistribution]
    space_fp: str
    budget: int | None


def space_fingerprint(config: ExperimentConfig, backbone: str) -> str:
    """What the study searches and how trials are scored (see the module doc)."""
    hpo = config.hpo
    searched = list(hpo.backbones) if not hpo.study_per_backbone else [backbone]
    model = config.model.model_dump(mode="json")
    model["backbone"] = backbone if hpo.study_per_backbone else None
    return fingerprint(
        {
            "fp": "hpo-space",
            "format": SPACE_FP_FORMAT,
            "search_space": {k: v.model_dump(mode="json") for k, v in hpo.search_space.items()},
            "backbones": searched,
            "study_per_backbone": hpo.study_per_backbone,
            "sampler": hpo.sampler.model_dump(mode="json"),
            "pruner": hpo.pruner.model_dump(mode="json"),
            "k_folds": hpo.k_folds,
            "fold_seed": config.data.split.seed,
            "objective_metric": hpo.objective_metric,
            "direction": hpo.direction,
            "refit": hpo.refit,
            "model": model,
            "train": config.train.model_dump(mode="json"),
        }
    )


def study_backbones(config: ExperimentConfig) -> list[str | None]:
    return list(config.hpo.backbones) if config.hpo.study_per_backbone else [None]


def plan_study(
    config: ExperimentConfig, backbone: str | None = None, *, n_trials: int | None = None
) -> StudyPlan:
    """Resolve which study ``config`` (and ``backbone``) means; validates the search space."""
    hpo = config.hpo
    if hpo.study_per_backbone:
        if backbone is None:
            if len(hpo.backbones) != 1:
                raise HpoError(
                    f"hpo.backbones lists {', '.join(hpo.backbones)} with one study per "
                    "backbone; name one with --backbone (or run them all with run_studies)"
                )
            backbone = hpo.backbones[0]
        elif backbone not in hpo.backbones:
            raise HpoError(
                f"backbone {backbone!r} is not in hpo.backbones ({', '.join(hpo.backbones)})"
            )
        path_backbone = backbone_component(backbone)
        key = slug(f"{hpo.study_name}-{path_backbone}")
        train_backbone = backbone
    else:
        if backbone is not None and backbone not in hpo.backbones:
            raise HpoError(
                f"backbone {backbone!r} is not in hpo.backbones ({', '.join(hpo.backbones)})"
            )
        path_backbone = ANY_BACKBONE
        key = slug(hpo.study_name)
        train_backbone = hpo.backbones[0]
    distributions = build_distributions(hpo)
    build_pruner(hpo.pruner, k_folds=hpo.k_folds)  # fails early on an unusable pruner
    budget = n_trials if n_trials is not None else hpo.n_trials
    if hpo.sampler.type == "grid":
        size = grid_size(distributions)
        budget = size if budget is None else min(budget, size)
    return StudyPlan(
        config=config,
        backbone=path_backbone,
        train_backbone=train_backbone,
        key=key,
        distributions=distributions,
        space_fp=space_fingerprint(config, train_backbone),
        budget=budget,
    )


def study_output_root(config: ExperimentConfig, output_root: Path | None) -> Path:
    root = output_root or config.paths.resolve_root()
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    return root


def outcome_from_manifest(
    manifest: Manifest, directory: Path, action: Action, *, storage_url: str | None = None
) -> StudyOutcome:
    payload = StudyPayload.of(manifest, directory)
    refit = payload.refit_checkpoint
    report = directory / REPORT_DIR
    return StudyOutcome(
        artifact_id=manifest.id,
        artifact_dir=directory,
        study_name=payload.study_name or "",
        storage_url=storage_url or payload.storage_url or "",
        backbone=manifest.backbone,
        version=manifest.variant,
        action=action,
        status=manifest.status,
        best_value=manifest.metrics.get("best_value"),
        best_trial=payload.best_trial,
        n_complete=int(manifest.metrics.get("n_complete", 0)),
        n_pruned=int(manifest.metrics.get("n_pruned", 0)),
        n_failed=int(manifest.metrics.get("n_failed", 0)),
        refit_checkpoint=(directory / refit) if refit else None,
        mlflow_parent_run_id=payload.mlflow_parent_run_id,
        report_dir=report if report.is_dir() else None,
        extra=dict(manifest.extra),
    )


def storage_for(config: ExperimentConfig, extra: Mapping[str, Any], directory: Path) -> str:
    """The study's storage: as recorded when the study started (a resumed study stays
    where its trials are), else as configured, else the SQLite file in the artifact.
    URLs with a password are not recorded; they come from the config every time."""
    recorded = extra.get("storage_url_full")
    local = default_storage_url(directory)
    if isinstance(recorded, str) and recorded:
        if _moved_sqlite(recorded, local):
            return local  # the artifact was restored or copied under another output root
        return recorded
    return config.hpo.storage or local


def _moved_sqlite(recorded: str, local: str) -> bool:
    """The recorded study database is an artifact's own SQLite file that is gone, and this
    artifact folder holds one: the folder moved (a backup pulled elsewhere, a copied root)."""
    prefix = "sqlite:///"
    if not recorded.startswith(prefix) or recorded == local:
        return False
    gone = not Path(recorded.removeprefix(prefix)).exists()
    same_name = Path(recorded.removeprefix(prefix)).name == Path(local.removeprefix(prefix)).name
    return gone and same_name and Path(local.removeprefix(prefix)).is_file()
