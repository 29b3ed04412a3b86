"""Pipeline stages contributed by nerp-eval (``nerp.stages`` entry points):
``select``, ``evaluate``, ``benchmark`` and ``report``.

Each takes its inputs from the stages before it in this run (``StageContext.input``; run
alone: the experiment's own artifacts, else the newest, said on the console), writes (or
reuses) its own artifact and returns one key figure plus labelled detail lines for the
pipeline's final summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerp_eval.errors import EvalError
from nerp_infra.artifacts import IndexedArtifact
from nerp_infra.artifacts.kinds import DATASET_KIND
from nerp_infra.config import Backend
from nerp_infra.paths import backbone_component
from nerp_infra.pipeline import StageContext, StageResult, action_status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from nerp_eval.benchmark.run import BenchmarkRun
    from nerp_eval.selection.run import SelectionRun
    from nerp_eval.targets import InferenceTarget
    from nerp_infra.documents import Document

__all__ = [
    "benchmark_run",
    "benchmark_stage",
    "evaluate_stage",
    "report_stage",
    "select_stage",
    "selection_run",
]


def selection_run(
    ctx: StageContext, *, study_ids: Sequence[str] = (), console: Console | None = None
) -> SelectionRun:
    """``run_selection`` with the experiment's settings (stage and ``nerp select``); without
    ``study_ids``, over the studies of the dataset of this run's ``data`` stage."""
    from nerp_eval.selection.run import run_selection

    cfg = ctx.config
    dataset = None if study_ids else ctx.input(DATASET_KIND)
    return run_selection(
        index=ctx.index,
        layout=ctx.layout,
        selection=cfg.selection,
        benchmark=cfg.benchmark,
        conversion=cfg.conversion,
        base_train=cfg.train,
        tracking=cfg.tracking,
        naming=cfg.naming,
        run_mode=ctx.run_mode(cfg.selection.run_mode),
        data_fp=dataset.manifest.fingerprints.get("data_fp") if dataset else None,
        study_ids=study_ids,
        console=console,
    )


def benchmark_run(
    ctx: StageContext, targets: Sequence[InferenceTarget], docs: Sequence[Document]
) -> BenchmarkRun:
    """``run_benchmark`` with the experiment's settings (stage and ``nerp benchmark``)."""
    from nerp_eval.benchmark.run import run_benchmark
    from nerp_eval.benchmark.texts import benchmark_texts

    cfg = ctx.config.benchmark
    return run_benchmark(
        targets,
        benchmark_texts(cfg.n_texts, docs),
        config=cfg,
        index=ctx.index,
        layout=ctx.layout,
        run_mode=ctx.run_mode(cfg.run_mode),
        tracking=ctx.config.tracking,
        naming=ctx.config.naming,
    )


def select_stage(ctx: StageContext) -> StageResult:
    """Champion across the HPO studies of the current dataset (selection artifact)."""
    result = selection_run(ctx, console=ctx.console if ctx.progress else None)
    decision = result.report["decision"]
    return StageResult(
        status=action_status(result.action),
        artifact_ids=(result.artifact_id,),
        summary=f"champion {backbone_component(result.champion['backbone'])} ({decision['rule']})",
        details={
            "champion": result.champion["backbone"],
            "selection": decision["reason"],
            "selection artifact": str(result.artifact_dir),
        },
    )


def _final_model(ctx: StageContext) -> IndexedArtifact:
    from nerp_eval.inputs import final_model_input

    model = final_model_input(ctx)
    if model is None:
        raise EvalError(
            f"no complete model artifact in {ctx.output_root}; run the train stage first"
        )
    return model


def _final_targets(
    ctx: StageContext, model: IndexedArtifact, backends: tuple[Backend, ...]
) -> tuple[list[InferenceTarget], list[str]]:
    """The final model and its ONNX package as targets for ``backends``; notes on gaps."""
    from nerp_eval.inputs import package_input
    from nerp_eval.targets import resolve_targets

    package = package_input(ctx, model)
    targets: list[InferenceTarget] = []
    notes: list[str] = []
    for backend in backends:
        if backend == "torch":
            targets.extend(resolve_targets(model.path, ("torch",)))
        elif package is None:
            notes.append(f"{backend}: no ONNX package of model {model.id} (run convert)")
        else:
            try:
                targets.extend(resolve_targets(package.path, (backend,)))
            except EvalError as exc:
                notes.append(f"{backend}: {exc}")
    return targets, notes


def _test_documents(
    ctx: StageContext, model: IndexedArtifact
) -> tuple[IndexedArtifact, list[Document]]:
    from nerp_eval.inputs import dataset_input
    from nerp_training.data import load_dataset

    dataset = dataset_input(ctx, model.id)
    if dataset is None:
        raise EvalError(f"no complete dataset artifact in {ctx.output_root}; run the data stage")
    return dataset, list(load_dataset(dataset.path).test)


def evaluate_stage(ctx: StageContext) -> StageResult:
    """Test-split scores of the final model's ONNX package (int8, else fp32) and of the
    PyTorch model itself, so a conversion loss shows next to the original."""
    from nerp_eval.evaluation.run import EvaluationData, EvaluationRun, run_evaluation

    model = _final_model(ctx)
    targets, notes = _final_targets(ctx, model, ("onnx_int8", "torch"))
    if not any(t.backend == "onnx_int8" for t in targets):
        fp32, _ = _final_targets(ctx, model, ("onnx_fp32",))
        targets = fp32 + targets
    if not targets:
        raise EvalError(f"nothing to evaluate: {'; '.join(notes)}")
    dataset, docs = _test_documents(ctx, model)
    data = EvaluationData(
        documents=docs,
        data_fp=dataset.manifest.fingerprints["data_fp"],
        source=f"dataset {dataset.id} (test)",
        artifact_id=dataset.id,
        split="test",
    )
    runs: list[tuple[InferenceTarget, EvaluationRun]] = []
    for target in targets:
        runs.append(
            (
                target,
                run_evaluation(
                    target,
                    data,
                    index=ctx.index,
                    layout=ctx.layout,
                    run_mode=ctx.run_mode("reuse_if_exists"),
                    tracking=ctx.config.tracking,
                    naming=ctx.config.naming,
                ),
            )
        )
    summary = ", ".join(f"{t.backend} f1_micro {r.f1_micro:.4f}" for t, r in runs)
    details: dict[str, str] = {}
    for target, run in runs:
        per_type = ", ".join(
            f"{name} {row['f1']:.3f}" for name, row in run.report["per_type"].items()
        )
        details[f"test F1 per type ({target.backend})"] = per_type
        details[f"evaluation ({target.backend})"] = str(run.artifact_dir)
    statuses = {action_status(r.action) for _, r in runs}
    return StageResult(
        status="reused" if statuses == {"reused"} else "done",
        artifact_ids=tuple(r.artifact_id for _, r in runs),
        summary=f"test {summary}",
        details=details,
    )


def benchmark_stage(ctx: StageContext) -> StageResult:
    """Latency of the final model on torch and of its ONNX package (fp32, int8), on the
    same test texts and threads."""
    from nerp_eval.inputs import dataset_input

    cfg = ctx.config.benchmark
    model = _final_model(ctx)
    targets, notes = _final_targets(ctx, model, tuple(cfg.backends))
    if not targets:
        raise EvalError(f"nothing to benchmark: {'; '.join(notes)}")
    dataset = dataset_input(ctx, model.id)
    docs: list[Document] = []
    if dataset is not None:
        from nerp_training.data import load_dataset

        docs = list(load_dataset(dataset.path).test)
    result = benchmark_run(ctx, targets, docs)
    size = min(cfg.batch_sizes)
    latency = ", ".join(
        f"{t.backend} {t.latency.p50_ms:.2f} ms" for t in result.timings if t.batch_size == size
    )
    per_backend = "; ".join(
        f"{t.backend}@{t.batch_size}: p50 {t.latency.p50_ms:.2f} ms, "
        f"p95 {t.latency.p95_ms:.2f} ms, {t.throughput_texts_per_s:.1f} texts/s"
        for t in result.timings
    )
    details = {"latency per backend": per_backend, "benchmark": str(result.artifact_dir)}
    if notes:
        details["benchmark skipped"] = "; ".join(notes)
    return StageResult(
        status=action_status(result.action),
        artifact_ids=(result.artifact_id,),
        summary=f"p50 at batch {size}: {latency}",
        details=details,
    )


def report_stage(ctx: StageContext) -> StageResult:
    """The HTML report (and Markdown summary) of this run's served model, with the dataset,
    studies, selection, evaluations and benchmark of its lineage."""
    from nerp_eval.inputs import served_input
    from nerp_eval.report.run import write_report

    result = write_report(
        ctx.index,
        ctx.layout,
        served=served_input(ctx),
        tracking=ctx.config.tracking,
        run_mode=ctx.run_mode("reuse_if_exists"),
        title=f"nerp report: {ctx.config.name}",
    )
    return StageResult(
        status=action_status(result.action),
        artifact_ids=(result.artifact_id,),
        summary=str(result.html),
        details={"report": str(result.html), "report (markdown)": str(result.markdown)},
    )
