"""A finished Azure ML sweep recorded as a local ``study`` artifact.

Local stages (``nerp eval select``, ``nerp hpo status|report``, a re-run of ``nerp hpo
run``) know studies as artifacts in the local index; a sweep on Azure ML leaves its
results in the workspace. After the sweep ends, every child job's ``trial`` output is
downloaded and its ``trial.json`` (:mod:`nerp_hpo.single_trial`) read, and the children
become the trials of an Optuna study on SQLite inside a new study artifact, shaped as a
local study's: the same key, fingerprints (``data_fp``, ``space_fp``) and lineage (the
local dataset artifact), so a later local run with the same settings reuses it instead of
searching again.

Trial states are what the child's result supports: COMPLETE when its ``trial.json`` holds
the CV value; PRUNED when Azure cancelled it (early termination cancels children) with
the intermediate values it had reported; FAIL otherwise (the child's error text is kept).
Each trial's ``azureml_job`` user attribute names its child job; the manifest's
``azureml_job`` extra (``nerp_infra.azureml.AZUREML_JOB_EXTRA``) names the sweep.

The refit follows ``hpo.refit`` as in a local study: the best trial is trained again
here, on all CV documents, into ``refit/model``. Selection measures latency on that
checkpoint when it compares backbones, and the fingerprints promise a refit
(``space_fp`` covers ``hpo.refit``). It trains one model locally; set ``hpo.refit:
false`` to skip it (a different study, since the fingerprint changes).

A sweep with no complete child raises :class:`~nerp_hpo.errors.HpoError` naming every
child and records nothing.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState
from rich.console import Console

from nerp_hpo.errors import HpoError
from nerp_hpo.folds import FOLDS_FILE, cv_documents, study_folds
from nerp_hpo.objective import (
    CV_MEAN_ATTR,
    CV_STD_ATTR,
    FOLD_SCORES_ATTR,
    PRUNED_STEP_ATTR,
)
from nerp_hpo.plan import (
    REPORT_DIR,
    STUDY_KIND,
    StudyOutcome,
    StudyPlan,
    outcome_from_manifest,
    plan_study,
)
from nerp_hpo.refit import run_refit
from nerp_hpo.reports import best_trial_summary, write_study_report
from nerp_hpo.runs import HPO_STAGE
from nerp_hpo.session import (
    ATTR_ARTIFACT_DIR,
    ATTR_ARTIFACT_ID,
    ATTR_BACKBONE,
    ATTR_BUDGET,
    ATTR_CONFIG,
    ATTR_DATA_FP,
    ATTR_DATASET_DIR,
    ATTR_FOLDS_FP,
    ATTR_OUTPUT_ROOT,
    ATTR_SPACE_FP,
    ATTR_VERSION,
    open_study,
    set_missing_attrs,
)
from nerp_hpo.single_trial import TRIAL_FILE, read_trial_file
from nerp_hpo.space import BACKBONE_PARAM
from nerp_hpo.storage import default_storage_url
from nerp_hpo.sweep import TRIAL_OUTPUT
from nerp_hpo.trials import ERROR_ATTR, count_trials
from nerp_infra.artifacts import MANIFEST_NAME, ArtifactIndex, IndexedArtifact, begin_artifact
from nerp_infra.azureml.outputs import AZUREML_JOB_EXTRA
from nerp_infra.config import ExperimentConfig
from nerp_infra.paths import OutputLayout
from nerp_training.data import PreparedDataset, folds_fingerprint

__all__ = [
    "AZUREML_CHILD_ATTR",
    "AZUREML_STATUS_ATTR",
    "CHILD_RESULTS_DIR",
    "ChildResult",
    "child_trial",
    "collect_children",
    "find_recorded_study",
    "record_sweep",
    "sweep_failure",
    "sweep_study_plan",
]

logger = logging.getLogger("nerp_hpo")

AZUREML_CHILD_ATTR = "azureml_job"
"""Trial user attribute: the Azure ML child job the trial ran as."""
AZUREML_STATUS_ATTR = "azureml_status"
"""Trial user attribute: the child job's final Azure ML status."""
CHILD_RESULTS_DIR = "azureml"
"""Folder in the study artifact with each child's ``trial.json`` as downloaded."""
_CANCELLED = frozenset({"Canceled", "CancelRequested"})
_PARAM_KEYS = ("search_space_values", "hyperparameters")
_RANGE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChildResult:
    """One child job of the sweep and what its ``trial`` output held."""

    job_name: str
    status: str
    params: dict[str, Any]
    """As the child ran them (``trial.json``), else as drawn (job properties), else empty."""
    result: dict[str, Any] | None = None
    """``trial.json`` read back, or None when the child left none."""
    error: str | None = None
    raw_file: Path | None = field(default=None, compare=False)


def sweep_study_plan(config: ExperimentConfig, *, budget: int | None = None) -> StudyPlan:
    """The local study a sweep of ``config`` stands for (key, fingerprints, backbone).

    One sweep is one study: the backbone is searched in it (``hpo.study_per_backbone:
    false``) or there is one backbone. Several backbones with one study each need one
    sweep each, which is refused here before anything is submitted.
    """
    hpo = config.hpo
    if hpo.study_per_backbone and len(hpo.backbones) > 1:
        raise HpoError(
            f"hpo.backbones lists {', '.join(hpo.backbones)} with hpo.study_per_backbone: "
            "one Azure ML sweep is one study; submit one sweep per backbone (--set "
            "hpo.backbones=[NAME]) or search the backbone in one sweep (--set "
            "hpo.study_per_backbone=false)"
        )
    backbone = hpo.backbones[0] if hpo.study_per_backbone else None
    return plan_study(config, backbone, n_trials=budget)


def _fingerprints(plan: StudyPlan, dataset: PreparedDataset) -> dict[str, str]:
    return {"data_fp": dataset.data_fp, "space_fp": plan.space_fp}


def find_recorded_study(
    index: ArtifactIndex, plan: StudyPlan, dataset: PreparedDataset
) -> IndexedArtifact | None:
    """The newest complete study with these fingerprints (recorded from a sweep or run
    locally), which ``reuse_if_exists``/``resume_if_incomplete`` reuse as a local run would."""
    wanted = _fingerprints(plan, dataset)
    found = [
        item
        for item in index.find(
            kind=STUDY_KIND,
            stage=HPO_STAGE,
            backbone=plan.backbone,
            status="complete",
            fingerprints=wanted,
        )
        if item.manifest.fingerprints == wanted and (item.path / MANIFEST_NAME).is_file()
    ]
    return found[-1] if found else None


def _natural(name: str) -> tuple[str, int, str]:
    """Children ``<sweep>_<n>`` in trial order (``_10`` after ``_9``)."""
    match = re.match(r"^(.*?)(\d+)$", name)
    return (match.group(1), int(match.group(2)), name) if match else (name, -1, name)


def _drawn_params(child: Any) -> dict[str, Any]:
    """The values Azure drew for a child, from its properties or tags (a mapping or JSON
    text); empty when neither has them (the child's ``trial.json`` is the better source)."""
    for holder in (getattr(child, "properties", None), getattr(child, "tags", None)):
        if not isinstance(holder, Mapping):
            continue
        for key in _PARAM_KEYS:
            value = holder.get(key)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    continue
            if isinstance(value, Mapping):
                return {str(k).lstrip("-"): v for k, v in value.items()}
    return {}


def _download_trial(
    ml_client: Any, job_name: str, target: Path, *, required: bool
) -> tuple[Path | None, str | None]:
    """(the downloaded ``trial.json`` or None, why not)."""
    from nerp_infra.azureml import AzureMLError, download_job_output

    try:
        folder = download_job_output(ml_client, job_name, TRIAL_OUTPUT, target)
    except AzureMLError as exc:
        return None, str(exc)
    except Exception as exc:  # a cancelled or failed child may have no output at all
        if required:
            raise
        return None, f"its output {TRIAL_OUTPUT!r} could not be downloaded: {exc}"
    path = folder / TRIAL_FILE
    if not path.is_file():
        return None, f"its output {TRIAL_OUTPUT!r} holds no {TRIAL_FILE}"
    return path, None


def _child_error(ml_client: Any, job_name: str) -> str | None:
    """The child's error text from run history (a courtesy: None when unavailable)."""
    try:
        details = ml_client.jobs._runs_operations.get_run_details(job_name)
    except Exception:
        return None
    root = getattr(getattr(details, "error", None), "error", None)
    message = str(getattr(root, "message", None) or "").strip()
    return message or None


def collect_children(ml_client: Any, sweep_name: str, download_root: Path) -> list[ChildResult]:
    """Every child job of the sweep with its downloaded ``trial.json``, in trial order.

    A completed child whose output cannot be downloaded at all is an error (its result
    would silently go missing); for the others a missing output is expected.
    """
    children = sorted(
        ml_client.jobs.list(parent_job_name=sweep_name),
        key=lambda child: _natural(str(child.name)),
    )
    results: list[ChildResult] = []
    for child in children:
        name, status = str(child.name), str(child.status)
        path, problem = _download_trial(
            ml_client, name, download_root / name, required=status == "Completed"
        )
        result = None
        if path is not None:
            try:
                result = read_trial_file(path)
            except HpoError as exc:
                problem = str(exc)
        params = dict(result["params"]) if result is not None else _drawn_params(child)
        error = None
        if result is None or not result["complete"]:
            if status == "Completed":
                error = problem or f"completed without a complete {TRIAL_FILE}"
            elif status not in _CANCELLED:
                error = _child_error(ml_client, name) or problem or f"child job {status}"
        results.append(ChildResult(name, status, params, result, error, path))
    return results


def _param_value(value: Any, dist: BaseDistribution) -> Any:
    """``value`` as ``dist`` holds it; ValueError when it is not in the distribution.

    Azure draws log-uniform values as ``exp(uniform(ln low, ln high))``, which can land an
    ulp outside the bounds; a value within a relative 1e-9 of a bound is put on it.
    Integers drawn as floats (``QUniform``) become ints when they are whole."""
    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:
            if isinstance(choice, bool) or isinstance(value, bool):
                if choice is value:
                    return choice
            elif choice == value:
                return choice
        raise ValueError(f"{value!r} is not one of {list(dist.choices)}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not finite")
    if isinstance(dist, IntDistribution | FloatDistribution):
        low, high = float(dist.low), float(dist.high)
        slack = _RANGE_TOLERANCE * max(abs(low), abs(high))
        if not low - slack <= number <= high + slack:
            raise ValueError(f"{value!r} is outside [{dist.low}, {dist.high}]")
        number = min(max(number, low), high)
        if isinstance(dist, IntDistribution):
            rounded = round(number)
            if abs(number - rounded) > 1e-6 or (rounded - dist.low) % dist.step:
                raise ValueError(f"{value!r} is off the grid {dist.low}..{dist.high}/{dist.step}")
            return int(rounded)
        if dist.step is not None:
            number = low + round((number - low) / dist.step) * dist.step
            number = min(max(number, low), high)
        return number
    raise ValueError(f"unsupported distribution {type(dist).__name__}")


def child_trial(
    child: ChildResult, distributions: Mapping[str, BaseDistribution]
) -> optuna.trial.FrozenTrial:
    """The child as an Optuna trial (see the module doc for the state)."""
    result = child.result or {}
    attrs: dict[str, Any] = {
        AZUREML_CHILD_ATTR: child.job_name,
        AZUREML_STATUS_ATTR: child.status,
    }
    params: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in child.params.items():
        dist = distributions.get(name)
        if dist is None:
            problems.append(f"{name}: not a dimension of hpo.search_space")
            continue
        try:
            params[name] = _param_value(raw, dist)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    intermediate: dict[int, float] = dict(result.get("intermediate") or {})
    scores = list(result.get("fold_scores") or [])
    if result:
        attrs[FOLD_SCORES_ATTR] = scores
    complete = bool(result.get("complete")) and not problems and set(params) == set(distributions)
    value: float | None = None
    if complete:
        state = TrialState.COMPLETE
        value = float(result["value"])
        attrs[CV_MEAN_ATTR] = value
        attrs[CV_STD_ATTR] = result.get("cv_std")
    elif child.status in _CANCELLED and not problems:
        state = TrialState.PRUNED
        if intermediate:
            attrs[PRUNED_STEP_ATTR] = max(intermediate)
    else:
        state = TrialState.FAIL
        reasons = [*problems, child.error or ""]
        if result.get("complete") and not problems:
            reasons.append("not every dimension has a value")
        attrs[ERROR_ATTR] = "; ".join(r for r in reasons if r) or f"child job {child.status}"
    if problems:
        params = {}  # a trial's params must all lie in the study's space
        attrs["azureml_params"] = {k: str(v) for k, v in child.params.items()}
    return optuna.trial.create_trial(
        state=state,
        value=value,
        params=params,
        distributions={name: distributions[name] for name in params},
        user_attrs=attrs,
        intermediate_values=intermediate,
    )


def _no_complete_child(sweep_name: str, children: Iterable[ChildResult]) -> HpoError:
    lines = [
        f"{c.job_name}: {c.status}" + (f" ({_last_line(c.error)})" if c.error else "")
        for c in children
    ]
    detail = "; ".join(lines) if lines else "it has no child jobs"
    return HpoError(
        f"Azure ML sweep {sweep_name!r} has no complete trial to record ({detail}); "
        "nothing was recorded"
    )


def sweep_failure(ml_client: Any, error: Any) -> HpoError:
    """The error for a sweep that ended without completing (``error`` is the
    ``AzureJobError``), with each child's status and error: the sweep's own error rarely
    says why its trials failed."""
    children: list[ChildResult] = []
    try:
        listed = sorted(
            ml_client.jobs.list(parent_job_name=error.job_name),
            key=lambda child: _natural(str(child.name)),
        )
    except Exception as exc:  # the listing is a courtesy; the sweep's error still stands
        logger.debug("could not list the children of %s: %s", error.job_name, exc)
        listed = []
    for child in listed:
        name, status = str(child.name), str(child.status)
        why = _child_error(ml_client, name) if status != "Completed" else None
        children.append(ChildResult(name, status, {}, None, _last_line(why)))
    detail = "; ".join(
        f"{c.job_name}: {c.status}" + (f" ({c.error})" if c.error else "") for c in children
    )
    where = f"; studio: {error.studio_url}" if getattr(error, "studio_url", None) else ""
    return HpoError(
        f"Azure ML sweep {error.job_name!r} ended with status {error.status}"
        + (f": {error.error}" if getattr(error, "error", None) else "")
        + (f"; trials: {detail}" if detail else "")
        + f"{where}; nothing was recorded"
    )


def _last_line(text: str | None, limit: int = 300) -> str | None:
    """The last non-empty line of an error (a traceback's own message), shortened."""
    if not text:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _refit_extra(
    config: ExperimentConfig,
    plan: StudyPlan,
    study_dir: Path,
    best: Mapping[str, Any],
    dataset: PreparedDataset,
    trainer: Any,
    console: Console,
) -> dict[str, Any]:
    console.print(f"[bold]hpo[/] refitting trial {best['number']} on all CV documents (locally)")
    result = run_refit(
        study_dir=study_dir,
        trial_number=int(best["number"]),
        params=best["params"],
        base_model=config.model,
        base_train=config.train,
        backbone=plan.train_backbone,
        documents=cv_documents(dataset),
        entity_types=dataset.labels,
        data_fp=dataset.data_fp,
        trainer=trainer,
    )
    return {
        "refit_checkpoint": result.model_dir.relative_to(study_dir).as_posix(),
        "refit_trial_number": result.trial_number,
        "refit_spec_fp": result.spec_fp,
        "refit_exec_fp": result.exec_fp,
        "refit_mlflow_run_id": None,
    }


def record_sweep(
    config: ExperimentConfig,
    sweep_job: Any,
    ml_client: Any,
    *,
    output_root: Path,
    dataset: PreparedDataset,
    budget: int | None = None,
    trainer: Any = None,
    console: Console | None = None,
) -> StudyOutcome:
    """Record the finished ``sweep_job`` as a new complete study artifact (module doc).

    ``budget`` is the sweep's ``max_total_trials``; ``trainer`` replaces ``train_model``
    for the refit (tests).
    """
    console = console or Console(quiet=True)
    root = Path(output_root).absolute()
    index = ArtifactIndex(root)
    layout = OutputLayout(root, config.paths.layout)
    plan = sweep_study_plan(config, budget=budget)
    sweep_name = str(sweep_job.name)
    with tempfile.TemporaryDirectory(prefix=".azureml-sweep-", dir=root) as tmp:
        children = collect_children(ml_client, sweep_name, Path(tmp))
        trials = [child_trial(child, plan.distributions) for child in children]
        if not any(t.state == TrialState.COMPLETE for t in trials):
            raise _no_complete_child(sweep_name, children)
        decision = begin_artifact(
            index,
            layout,
            kind=STUDY_KIND,
            stage=HPO_STAGE,
            backbone=plan.backbone,
            key=plan.key,
            fingerprints=_fingerprints(plan, dataset),
            lineage=[dataset.artifact_id],
            config=config.model_dump(mode="json"),
            run_mode="force_new",
        )
        handle = decision.handle
        try:
            kept = handle.dir / CHILD_RESULTS_DIR
            for child in children:
                if child.raw_file is not None:
                    kept.mkdir(exist_ok=True)
                    shutil.copy2(child.raw_file, kept / f"{child.job_name}.json")
            return _fill_study(
                config,
                plan,
                handle,
                dataset,
                sweep_job,
                trials,
                root=root,
                trainer=trainer,
                console=console,
            )
        except BaseException as exc:
            if handle.manifest.status == "incomplete":
                handle.fail(f"recording Azure ML sweep {sweep_name}: {exc}")
            raise


def _fill_study(
    config: ExperimentConfig,
    plan: StudyPlan,
    handle: Any,
    dataset: PreparedDataset,
    sweep_job: Any,
    trials: list[optuna.trial.FrozenTrial],
    *,
    root: Path,
    trainer: Any,
    console: Console,
) -> StudyOutcome:
    hpo = config.hpo
    version = handle.manifest.variant
    study_name = f"{plan.key}-v{version}"
    storage_url = default_storage_url(handle.dir)
    folds = study_folds(dataset, k=hpo.k_folds, seed=config.data.split.seed, directory=handle.dir)
    study = open_study(
        study_name, storage_url, config=config, distributions=plan.distributions, create=True
    )
    set_missing_attrs(
        study,
        {
            ATTR_CONFIG: config.model_dump(mode="json"),
            ATTR_BACKBONE: plan.train_backbone if hpo.study_per_backbone else None,
            ATTR_ARTIFACT_ID: handle.id,
            ATTR_ARTIFACT_DIR: str(handle.dir),
            ATTR_OUTPUT_ROOT: str(root),
            ATTR_DATASET_DIR: str(dataset.artifact_dir),
            ATTR_DATA_FP: dataset.data_fp,
            ATTR_SPACE_FP: plan.space_fp,
            ATTR_FOLDS_FP: folds_fingerprint(folds),
            ATTR_BUDGET: plan.budget,
            ATTR_VERSION: version,
            "nerp_azureml_sweep": str(sweep_job.name),
        },
    )
    study.add_trials(trials)
    best = best_trial_summary(study)
    assert best is not None  # record_sweep checked for a complete trial
    provenance = {
        "job_name": str(sweep_job.name),
        "output": TRIAL_OUTPUT,
        "studio_url": getattr(sweep_job, "studio_url", None),
        "experiment": getattr(sweep_job, "experiment_name", None),
    }
    extra: dict[str, Any] = {
        "study_name": study_name,
        "storage_url": storage_url,
        "storage_url_full": storage_url,
        "budget": plan.budget,
        "k_folds": hpo.k_folds,
        "folds_file": FOLDS_FILE if hpo.k_folds > 1 else None,
        "direction": hpo.direction,
        "objective_metric": hpo.objective_metric,
        AZUREML_JOB_EXTRA: {k: v for k, v in provenance.items() if v},
        "best_trial": best,
        "best_backbone": best["params"].get(BACKBONE_PARAM) or plan.train_backbone,
        "best_trial_run_id": None,
        "best_trial_azureml_job": study.best_trial.user_attrs.get(AZUREML_CHILD_ATTR),
    }
    if hpo.refit:
        extra.update(_refit_extra(config, plan, handle.dir, best, dataset, trainer, console))
    else:
        extra["refit_trial_number"] = None  # no checkpoint: selection must not assume one
    report = write_study_report(study, handle.dir / REPORT_DIR)
    extra["report"] = {
        "trials_csv": report.trials_csv.relative_to(handle.dir).as_posix(),
        "trials_json": report.trials_json.relative_to(handle.dir).as_posix(),
        "best_trial": report.best_trial_json.relative_to(handle.dir).as_posix(),
        "plots": {k: v.relative_to(handle.dir).as_posix() for k, v in report.plots.items()},
    }
    counts = count_trials(study)
    manifest = handle.complete(
        metrics={
            "best_value": best["value"],
            "best_cv_std": best.get("cv_std"),
            "n_complete": counts.complete,
            "n_pruned": counts.pruned,
            "n_failed": counts.failed,
        },
        extra=extra,
    )
    console.print(
        f"[bold]hpo[/] recorded sweep {sweep_job.name} as study {study_name}: best "
        f"{hpo.objective_metric} {best['value']:.4f} (trial {best['number']}); "
        f"{counts.complete} complete, {counts.pruned} pruned, {counts.failed} failed"
    )
    return outcome_from_manifest(manifest, handle.dir, "new", storage_url=storage_url)
