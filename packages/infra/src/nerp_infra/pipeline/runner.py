"""Run the experiment's stages in order, with one status line each."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.artifacts.kinds import (
    BENCHMARK_STAGE,
    CONVERT_STAGE,
    DATA_STAGE,
    EVALUATE_STAGE,
    HPO_STAGE,
    REPORT_STAGE,
    SELECT_STAGE,
    STAGE_CONTRACTS,
    TRAIN_STAGE,
)
from nerp_infra.config import STAGES, ExperimentConfig
from nerp_infra.console import log_to
from nerp_infra.paths import OutputLayout
from nerp_infra.pipeline.azureml_stage import (
    LOCAL_STAGES,
    NATIVE_AZUREML_STAGES,
    run_stage_on_azureml,
)
from nerp_infra.pipeline.inputs import RunArtifacts
from nerp_infra.pipeline.stage import StageContext, StageFunction, StageResult, Target
from nerp_infra.plugins import STAGES_GROUP, load_group

# Which distribution provides each stage, so a missing one names what to install.
STAGE_PROVIDERS = {
    DATA_STAGE: "nerp-training",
    HPO_STAGE: "nerp-hpo",
    SELECT_STAGE: "nerp-eval",
    TRAIN_STAGE: "nerp-training",
    CONVERT_STAGE: "nerp-deploy[convert]",
    EVALUATE_STAGE: "nerp-eval",
    BENCHMARK_STAGE: "nerp-eval",
    REPORT_STAGE: "nerp-eval",
}


class PipelineError(RuntimeError):
    """A pipeline that cannot start or a stage that failed; says which and why."""


@dataclass
class PipelineReport:
    results: dict[str, StageResult] = field(default_factory=dict)
    durations_s: dict[str, float] = field(default_factory=dict)


def select_stages(
    configured: Sequence[str],
    *,
    from_stage: str | None = None,
    only: Collection[str] = (),
    force: Collection[str] = (),
) -> list[str]:
    """The stages to run: the configured ones, cut by ``--from`` or narrowed by ``--only``."""
    for flag, names in (("--from", [from_stage] if from_stage else []), ("--only", only)):
        for name in names:
            if name not in STAGES:
                raise PipelineError(f"{flag} {name!r}: not a stage; stages are {', '.join(STAGES)}")
            if name not in configured:
                raise PipelineError(
                    f"{flag} {name!r}: not in this experiment's stages ({', '.join(configured)})"
                )
    for name in force:
        if name not in configured:
            raise PipelineError(f"--force {name!r}: not in this experiment's stages")
    if from_stage and only:
        raise PipelineError("--from and --only cannot be combined")
    selected = list(configured)
    if from_stage:
        selected = selected[selected.index(from_stage) :]
    if only:
        selected = [s for s in selected if s in only]
    return selected


def load_stage_functions(names: Sequence[str]) -> dict[str, StageFunction]:
    """The stage functions of ``names``; only their modules are imported, so
    ``nerp pipeline --only report`` loads no torch, transformers or optuna."""
    loaded, errors = load_group(STAGES_GROUP, names)
    broken = {e.name: e for e in errors}
    functions: dict[str, StageFunction] = {}
    for name in names:
        if name in broken:
            raise PipelineError(f"stage {name!r} failed to load: {broken[name].describe()}")
        target = loaded.get(name)
        if target is None:
            raise PipelineError(
                f"stage {name!r} is not installed; it comes with {STAGE_PROVIDERS[name]}"
            )
        if not callable(target):
            raise PipelineError(f"stage {name!r}: entry point is not callable")
        functions[name] = target
    return functions


def _pick(stages: Mapping[str, StageFunction], names: Sequence[str]) -> dict[str, StageFunction]:
    missing = [name for name in names if name not in stages]
    if missing:
        raise PipelineError(f"no stage function for {', '.join(missing)}")
    return {name: stages[name] for name in names}


def _run_stage(context: StageContext, name: str, function: StageFunction) -> StageResult:
    """Run one stage where the target says: locally, its own Azure ML job, or a generic one.

    In an Azure ML dry run the earlier stages only wrote job files, so a dedicated job that
    needs their local outputs (the selection, the trained model) cannot be built; the stage
    is then written as the generic job, which finds those outputs when it runs remotely.
    """
    if context.target != "azureml" or name in LOCAL_STAGES:
        return function(context)
    if name not in NATIVE_AZUREML_STAGES:
        return run_stage_on_azureml(context, name)
    try:
        return function(context)
    except Exception as exc:
        if not context.dry_run:
            raise
        context.console.print(
            f"  {name}: dedicated Azure ML job needs local outputs ({exc}); "
            "writing the generic stage job",
            highlight=False,
            soft_wrap=True,
        )
        return run_stage_on_azureml(context, name)


def open_context(
    config: ExperimentConfig,
    *,
    console: Console | None = None,
    output_root: Path | None = None,
    target: Target = "local",
    dry_run: bool = False,
    job_dir: Path | None = None,
    progress: bool = True,
    stage: str = "",
) -> StageContext:
    """The context a stage (or a standalone stage command: ``stage`` names it, so its
    inputs are checked against the stage's contract) runs in; under the ``nerp`` host,
    library messages from here on go to ``<root>/logs/`` (:func:`nerp_infra.console.log_to`)."""
    root = output_root or config.paths.resolve_root()
    root.mkdir(parents=True, exist_ok=True)
    log_to(root)
    return StageContext(
        config=config,
        output_root=root,
        index=ArtifactIndex(root),
        layout=OutputLayout(root, config.paths.layout),
        console=console or Console(),
        target=target,
        dry_run=dry_run,
        job_dir=job_dir,
        progress=progress,
        stage=stage,
    )


def _check_produces(context: StageContext, name: str, artifact_ids: Sequence[str]) -> None:
    """A stage returns only artifacts of the kinds its contract says it produces."""
    contract = STAGE_CONTRACTS.get(name)
    if contract is None:
        return
    for artifact_id in artifact_ids:
        if artifact_id not in context.index:
            continue  # a submitted job's output, recorded once it finishes
        kind = context.index.get(artifact_id).manifest.kind
        if kind not in contract.produces:
            raise PipelineError(
                f"stage {name!r} returned {kind} artifact {artifact_id}, but its contract "
                f"(nerp_infra.artifacts.kinds.STAGE_CONTRACTS) produces only "
                f"{', '.join(contract.produces)}"
            )


def run_pipeline(
    context: StageContext,
    *,
    from_stage: str | None = None,
    only: Collection[str] = (),
    force: Collection[str] = (),
    stages: Mapping[str, StageFunction] | None = None,
) -> PipelineReport:
    """Run the selected stages; a failure stops the run and names the stage.

    Each stage's outputs are recorded in ``context.run``, so later stages consume what this
    run produced (``context.upstream`` / ``context.input``) rather than the newest artifact.

    ``stages`` defaults to the installed ``nerp.stages`` entry points.
    """
    config = context.config
    names = select_stages(config.stages, from_stage=from_stage, only=only, force=force)
    functions = load_stage_functions(names) if stages is None else _pick(stages, names)
    console = context.console
    report = PipelineReport()
    plan = " → ".join(names)
    console.print(f"[bold]nerp pipeline[/] {config.name}: {plan}  (outputs: {context.output_root})")
    context.run = RunArtifacts()
    for position, name in enumerate(names, start=1):
        context.force = name in force
        context.stage = name
        label = f"[{position}/{len(names)}] {name:<9}"
        console.print(f"{label} [dim]running…[/]")
        started = time.perf_counter()
        try:
            result = _run_stage(context, name, functions[name])
        except KeyboardInterrupt:
            console.print(f"{label} [yellow]interrupted[/]; finished stages are kept")
            raise
        except Exception as exc:
            elapsed = time.perf_counter() - started
            console.print(f"{label} [red]failed[/] after {elapsed:.1f}s: {exc}")
            raise PipelineError(f"stage {name!r} failed: {exc}") from exc
        elapsed = time.perf_counter() - started
        report.results[name] = result
        context.run.record(context.index, result.artifact_ids)
        _check_produces(context, name, result.artifact_ids)
        report.durations_s[name] = elapsed
        colour = "green" if result.status in ("done", "resumed") else "cyan"
        console.print(
            f"{label} [{colour}]{result.status:<9}[/] {elapsed:7.1f}s  {result.summary}",
            highlight=False,
            soft_wrap=True,
        )
    context.force = False
    context.stage = ""
    return report
