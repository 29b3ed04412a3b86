"""The child jobs of a finished Azure ML sweep, read back as Optuna trials.

Each child ran ``nerp hpo trial`` and left ``trial.json`` in its ``trial`` output
(:mod:`nerp_hpo.single_trial`). :func:`collect_children` lists the children and downloads
that file; :func:`child_trial` turns one child into a ``FrozenTrial`` of the study's space.
States are what the child's result supports: COMPLETE when ``trial.json`` holds the CV
value; PRUNED when Azure cancelled the child (early termination cancels children), with
the intermediate values it had reported; FAIL otherwise, with the child's error text.
"""

from __future__ import annotations

import logging
import math
import re
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

from nerp_hpo.errors import HpoError
from nerp_hpo.objective import CV_MEAN_ATTR, CV_STD_ATTR, FOLD_SCORES_ATTR, PRUNED_STEP_ATTR
from nerp_hpo.single_trial import TRIAL_FILE, read_trial_file
from nerp_hpo.sweep import TRIAL_OUTPUT
from nerp_hpo.trials import ERROR_ATTR

__all__ = [
    "AZUREML_CHILD_ATTR",
    "AZUREML_STATUS_ATTR",
    "ChildResult",
    "child_trial",
    "collect_children",
    "no_complete_child",
    "sweep_failure",
]

logger = logging.getLogger("nerp_hpo")

AZUREML_CHILD_ATTR = "azureml_job"
"""Trial user attribute: the Azure ML child job the trial ran as."""
AZUREML_STATUS_ATTR = "azureml_status"
"""Trial user attribute: the child job's final Azure ML status."""
_CANCELLED = frozenset({"Canceled", "CancelRequested"})
_RANGE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChildResult:
    """One child job of the sweep and what its ``trial`` output held."""

    job_name: str
    status: str
    params: dict[str, Any]
    """As the child ran them (``trial.json``); empty when it left none."""
    result: dict[str, Any] | None = None
    """``trial.json`` read back, or None when the child left none."""
    error: str | None = None
    raw_file: Path | None = field(default=None, compare=False)


def _natural(name: str) -> tuple[str, int, str]:
    """Children ``<sweep>_<n>`` in trial order (``_10`` after ``_9``)."""
    match = re.match(r"^(.*?)(\d+)$", name)
    return (match.group(1), int(match.group(2)), name) if match else (name, -1, name)


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


def _children(ml_client: Any, sweep_name: str) -> list[Any]:
    """The sweep's child jobs in trial order; the SDK yields None for runs it cannot parse."""
    listed = [c for c in ml_client.jobs.list(parent_job_name=sweep_name) if c is not None]
    return sorted(listed, key=lambda child: _natural(str(child.name)))


def collect_children(ml_client: Any, sweep_name: str, download_root: Path) -> list[ChildResult]:
    """Every child job of the sweep with its downloaded ``trial.json``, in trial order.

    A completed child whose output cannot be downloaded at all is an error (its result
    would silently go missing); for the others a missing output is expected.
    """
    children = _children(ml_client, sweep_name)
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
        # Only trial.json says which values a child ran with: a child that never wrote
        # one becomes a failed trial without parameters.
        params = dict(result["params"]) if result is not None else {}
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


def no_complete_child(sweep_name: str, children: Iterable[ChildResult]) -> HpoError:
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
        listed = _children(ml_client, error.job_name)
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
