"""Azure ML sweep job built from the same search space, sampler, pruner and budget.

Each Azure trial runs ``nerp hpo trial`` with the sampled values: the same CV objective
as a local trial, on the same dataset artifact (uploaded as an input folder). It logs the
objective metric to the trial's MLflow run at every intermediate step (so Azure's
early-termination policy sees the same curve Optuna's pruner would) and the CV mean as
the last value.

Translation (Azure ML's names):

- choice → ``Choice``; int → ``Choice`` of its values (``QUniform``/``QLogUniform`` with
  ``q=step`` above 1000 values); uniform → ``Uniform`` (``QUniform`` with a step);
  loguniform → ``LogUniform`` with **natural-log bounds** (Azure draws
  ``exp(uniform(min, max))``, so ``[1e-4, 3e-3]`` becomes ``[ln 1e-4, ln 3e-3]``);
- sampler: random → ``random``, grid → ``grid`` (every dimension a ``Choice``), tpe →
  ``bayesian`` when Azure allows it (only choice/uniform/quniform and no
  early termination), otherwise ``random`` with a warning;
- pruner: bandit → ``BanditPolicy`` (same slack, ``evaluation_interval``,
  ``delay_evaluation``), median → ``MedianStoppingPolicy`` (``delay_evaluation`` =
  ``n_warmup_steps``), wilcoxon and none → no policy (Azure has no Wilcoxon test);
- limits: ``max_total_trials`` = the budget, ``timeout`` = ``hpo.timeout_s``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from nerp_hpo.errors import SearchSpaceError
from nerp_hpo.space import BACKBONE_PARAM, has_backbone_dimension, space_key
from nerp_infra.config import (
    ChoiceParam,
    ExperimentConfig,
    IntParam,
    LogUniformParam,
    UniformParam,
    dump_config,
)

__all__ = [
    "DEFAULT_MAX_CONCURRENT_TRIALS",
    "MAX_CHOICES",
    "TRIAL_OUTPUT",
    "SweepPlan",
    "azure_search_space",
    "build_sweep_job",
    "dataset_asset",
    "default_environment",
    "parse_param",
    "plan_sweep",
    "trial_command",
    "write_code_dir",
    "write_sweep_job",
]

logger = logging.getLogger("nerp_hpo")

MAX_CHOICES = 1000
CONFIG_FILE = "experiment.yaml"
"""The resolved experiment inside the job's code folder."""
DATASET_ASSET = "nerp-dataset"
TRIAL_OUTPUT = "trial"
"""The named output of every trial: its ``trial.json`` (and fold scratch)."""
DEFAULT_MAX_CONCURRENT_TRIALS = 4
"""Concurrent Azure trials (no config key yet; ``--max-concurrent`` on the CLI)."""
_DEFAULT_MAX_TRIALS = 100
_BAYESIAN_TYPES = ("Choice", "Uniform", "QUniform")


@dataclass(frozen=True)
class SweepPlan:
    """What the sweep job will be, before the SDK builds it (testable without Azure)."""

    search_space: dict[str, Any]
    sampling_algorithm: str
    early_termination: Any
    max_total_trials: int
    max_concurrent_trials: int
    timeout_s: int | None
    primary_metric: str
    goal: str
    warnings: list[str] = field(default_factory=list)


def azure_dimension(name: str, param: Any, *, grid: bool) -> Any:
    """One dimension as an ``azure.ai.ml.sweep`` distribution (see the module doc)."""
    from azure.ai.ml.sweep import Choice, LogUniform, QLogUniform, QUniform, Uniform

    if isinstance(param, ChoiceParam):
        return Choice(values=list(param.values))
    if isinstance(param, IntParam):
        values: list[Any] = list(range(param.low, param.high + 1, param.step))
        if param.log and len(values) > MAX_CHOICES:
            return QLogUniform(min_value=math.log(param.low), max_value=math.log(param.high), q=1)
        if len(values) <= MAX_CHOICES or grid:
            return Choice(values=values)
        return QUniform(min_value=param.low, max_value=param.high, q=param.step)
    if isinstance(param, UniformParam):  # Azure's schema takes a float q; the SDK hint says int
        if param.step is None:
            if grid:
                raise SearchSpaceError(space_key(name), "grid sweeps need finite dimensions")
            return Uniform(min_value=param.low, max_value=param.high)
        if grid:
            count = round((param.high - param.low) / param.step) + 1
            return Choice(values=[round(param.low + i * param.step, 12) for i in range(count)])
        return QUniform(min_value=param.low, max_value=param.high, q=cast(Any, param.step))
    if isinstance(param, LogUniformParam):
        if grid:
            raise SearchSpaceError(space_key(name), "grid sweeps need finite dimensions")
        return LogUniform(min_value=math.log(param.low), max_value=math.log(param.high))
    raise SearchSpaceError(space_key(name), f"unknown dimension type {type(param).__name__}")


def azure_search_space(config: ExperimentConfig, *, grid: bool = False) -> dict[str, Any]:
    """Every dimension as an Azure distribution, plus ``backbone`` when it is searched."""
    from azure.ai.ml.sweep import Choice

    hpo = config.hpo
    space = {name: azure_dimension(name, p, grid=grid) for name, p in hpo.search_space.items()}
    if has_backbone_dimension(hpo):
        space[BACKBONE_PARAM] = Choice(values=list(hpo.backbones))
    return space


def _policy(config: ExperimentConfig, notes: list[str]) -> Any:
    from azure.ai.ml.sweep import BanditPolicy, MedianStoppingPolicy

    pruner = config.hpo.pruner
    if pruner.type == "bandit":
        slack: dict[str, float] = (
            {"slack_factor": pruner.slack_factor}
            if pruner.slack_factor is not None
            else {"slack_amount": float(pruner.slack_amount or 0)}
        )
        return BanditPolicy(
            evaluation_interval=pruner.evaluation_interval,
            delay_evaluation=pruner.delay_evaluation,
            **slack,
        )
    if pruner.type == "median":
        return MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=pruner.n_warmup_steps)
    if pruner.type == "wilcoxon":
        notes.append("pruner 'wilcoxon' has no Azure ML equivalent; the sweep runs without one")
    return None


def plan_sweep(
    config: ExperimentConfig,
    *,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
) -> SweepPlan:
    """Search space, algorithm, policy and limits of the sweep (see the module doc)."""
    hpo = config.hpo
    notes: list[str] = []
    grid = hpo.sampler.type == "grid"
    space = azure_search_space(config, grid=grid)
    policy = _policy(config, notes)
    if grid:
        algorithm = "grid"
    elif hpo.sampler.type == "random":
        algorithm = "random"
    else:
        unsupported = sorted(n for n, d in space.items() if type(d).__name__ not in _BAYESIAN_TYPES)
        if unsupported or policy is not None:
            why = (
                f"dimensions {', '.join(unsupported)} are not choice/uniform/quniform"
                if unsupported
                else f"Azure's bayesian sampling allows no early termination ({hpo.pruner.type})"
            )
            notes.append(f"sampler 'tpe' maps to Azure 'bayesian', but {why}; using 'random'")
            algorithm = "random"
        else:
            algorithm = "bayesian"
    total = budget if budget is not None else (hpo.n_trials or _DEFAULT_MAX_TRIALS)
    if grid:
        size = 1
        for dim in space.values():
            size *= len(dim.values)
        total = min(total, size)
    for note in notes:
        logger.warning("azure sweep: %s", note)
    return SweepPlan(
        search_space=space,
        sampling_algorithm=algorithm,
        early_termination=policy,
        max_total_trials=total,
        max_concurrent_trials=max(1, min(max_concurrent_trials, total)),
        timeout_s=int(hpo.timeout_s) if hpo.timeout_s is not None else None,
        primary_metric=hpo.objective_metric,
        goal="Maximize" if hpo.direction == "maximize" else "Minimize",
        warnings=notes,
    )


def trial_command(config: ExperimentConfig) -> str:
    """The command each Azure trial runs, with the sampled values as ``--param`` options."""
    params = [*config.hpo.search_space]
    if has_backbone_dimension(config.hpo):
        params.append(BACKBONE_PARAM)
    options = " ".join(f"--param {name}=${{{{inputs.{name}}}}}" for name in params)
    return (
        f"nerp hpo trial {CONFIG_FILE} --dataset ${{{{inputs.dataset}}}} "
        f"{options} --output ${{{{outputs.{TRIAL_OUTPUT}}}}}"
    )


def _defaults(config: ExperimentConfig) -> dict[str, Any]:
    """Literal defaults for the search inputs (the sweep replaces them with distributions)."""
    values: dict[str, Any] = {}
    for name, param in config.hpo.search_space.items():
        if isinstance(param, ChoiceParam):
            values[name] = param.values[0]
        else:
            values[name] = param.low
    if has_backbone_dimension(config.hpo):
        values[BACKBONE_PARAM] = config.hpo.backbones[0]
    return values


def write_code_dir(config: ExperimentConfig, directory: Path) -> Path:
    """The job's code folder: just the resolved experiment (every trial reads it)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(dump_config(config), encoding="utf-8")
    return directory


def dataset_asset(data_fp: str, name: str = DATASET_ASSET) -> str:
    """The data asset reference of a dataset: ``azureml:<name>:<first 12 of data_fp>``,
    what ``nerp_infra.azureml.ensure_data_asset`` registers (once per fingerprint)."""
    from nerp_infra.azureml import asset_ref, data_asset_version

    return asset_ref(name, data_asset_version(data_fp))


def build_sweep_job(
    config: ExperimentConfig,
    *,
    code_dir: Path,
    dataset: Path | str,
    environment: Any,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
    settings: Any = None,
    display_name: str | None = None,
) -> Any:
    """The ``SweepJob``: a nerp command job swept over the search space.

    ``code_dir`` holds the resolved experiment (:func:`write_code_dir`), ``dataset`` is
    the dataset artifact: an ``azureml:`` asset reference (:func:`dataset_asset`) or a
    local folder, ``environment`` an environment reference or ``Environment``.
    """
    from nerp_infra.azureml import command_job

    plan = plan_sweep(config, budget=budget, max_concurrent_trials=max_concurrent_trials)
    node = command_job(
        command=trial_command(config),
        environment=environment,
        display_name=display_name or f"hpo-{config.hpo.study_name}",
        code=code_dir,
        inputs={"dataset": dataset, **_defaults(config)},
        outputs={TRIAL_OUTPUT: None},
        tags={"nerp.stage": "hpo", "nerp.study_name": config.hpo.study_name},
        description="; ".join(plan.warnings) or None,
        settings=settings,
    )
    swept = node(**plan.search_space)
    sweep = swept.sweep(
        primary_metric=plan.primary_metric,
        goal=plan.goal,
        sampling_algorithm=plan.sampling_algorithm,
        early_termination_policy=plan.early_termination,
    )
    sweep.set_limits(
        max_total_trials=plan.max_total_trials,
        max_concurrent_trials=plan.max_concurrent_trials,
        timeout=plan.timeout_s,
    )
    if display_name or config.hpo.study_name:
        sweep.display_name = display_name or f"hpo-{config.hpo.study_name}"
    sweep.experiment_name = node.experiment_name
    return sweep


def default_environment() -> Any:
    """An environment with nerp-hpo and its dependencies (versioned by content)."""
    from nerp_hpo import __version__
    from nerp_infra.azureml import build_environment

    return build_environment(
        name="nerp-hpo",
        distributions={"nerp-hpo": "nerp-hpo[azure]"},
        extra_pip=[f"nerp-hpo[azure]=={__version__}"],
    )


def write_sweep_job(
    config: ExperimentConfig,
    out_dir: Path,
    *,
    dataset: Path | str,
    environment: Any = None,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
    settings: Any = None,
) -> dict[str, Path]:
    """``--dry-run``: write the job's code folder (``out_dir/code``) and ``hpo_sweep.yml``,
    and load the YAML back with ``azure.ai.ml.load_job``; returns the written paths."""
    from nerp_infra.azureml import write_job_yamls

    out_dir = Path(out_dir)
    code_dir = write_code_dir(config, out_dir / "code")
    job = build_sweep_job(
        config,
        code_dir=code_dir,
        dataset=dataset,
        environment=environment if environment is not None else default_environment(),
        budget=budget,
        max_concurrent_trials=max_concurrent_trials,
        settings=settings,
    )
    written = write_job_yamls({"hpo_sweep": job}, out_dir)
    return {"code": code_dir, **written}


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value`` from the command line; values are read as YAML (``8``, ``1e-3``)."""
    import yaml

    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise SearchSpaceError("--param", f"{text!r} is not NAME=VALUE")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SearchSpaceError(
            f"--param {name}", f"value {raw!r} is not valid YAML: {exc}"
        ) from None
    return name.strip(), value
