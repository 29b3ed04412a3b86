"""``nerp benchmark``: latency of torch, ONNX fp32 and ONNX int8 on the same texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nerp_eval.commands.common import (
    ExperimentOption,
    ForceOption,
    OutputRootOption,
    failures,
    open_stage_context,
)
from nerp_infra.config import SetOption

__all__ = ["benchmark"]


def benchmark(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Model artifacts and/or ONNX packages (folders or ids). Default: the final "
            "model and its ONNX package in the output root."
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Texts: dataset artifact (test split) or documents file."),
    ] = None,
    experiment: ExperimentOption = None,
    overrides: SetOption = None,
    output_root: OutputRootOption = None,
    force: ForceOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print benchmark.json.")] = False,
) -> None:
    """Time torch, ONNX fp32 and ONNX int8 per batch size on the same texts and threads.

    Reports p50/p95/p99/mean latency, throughput, and tokenisation alone, after warm-up.

    Settings come from the `benchmark` config: `--set benchmark.batch_sizes=[1,8]`,
    `--set benchmark.iterations=50`, `--set benchmark.threads=4`,
    `--set benchmark.backends=[onnx_int8]`. A finished benchmark with the same settings
    is reused (bench_fp); --force times again.
    """
    from nerp_eval.benchmark.run import CHART_FILE
    from nerp_eval.errors import EvalError
    from nerp_eval.inputs import evaluation_data, model_or_package_path
    from nerp_eval.stages import benchmark_run, benchmark_stage
    from nerp_eval.targets import InferenceTarget, resolve_targets

    console = Console()
    with failures():
        config, ctx = open_stage_context(experiment, overrides, output_root, force=force)
        cfg = config.benchmark
        if not models and data is None:
            stage = benchmark_stage(ctx)
            artifact = ctx.index.get(stage.artifact_ids[0])
        else:
            if not models:
                raise EvalError("--data needs MODELS too (the folders or ids to time)")
            targets: list[InferenceTarget] = []
            for ref in models:
                path = model_or_package_path(ref, ctx.index, tracking=config.tracking)
                offered = resolve_targets(path)
                kind = "torch" if offered[0].backend == "torch" else "onnx"
                wanted = tuple(b for b in cfg.backends if (b == "torch") == (kind == "torch"))
                if wanted:
                    targets.extend(resolve_targets(path, wanted))
            if not targets:
                raise EvalError(
                    f"none of benchmark.backends ({', '.join(cfg.backends)}) applies to "
                    f"{', '.join(models)}"
                )
            docs = evaluation_data(data, index=ctx.index).documents if data else []
            run = benchmark_run(ctx, targets, docs)
            artifact = ctx.index.get(run.artifact_id)
    report = json.loads((artifact.path / "benchmark.json").read_text())
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    table = Table(title="Latency per batch (ms)")
    for column in ("backend", "batch", "p50", "p95", "p99", "mean", "tokenise p50", "texts/s"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for row in report["timings"]:
        lat, tok = row["latency"], row["tokenization"]
        table.add_row(
            row["backend"],
            str(row["batch_size"]),
            f"{lat['p50_ms']:.2f}",
            f"{lat['p95_ms']:.2f}",
            f"{lat['p99_ms']:.2f}",
            f"{lat['mean_ms']:.2f}",
            f"{tok['p50_ms']:.2f}",
            f"{row['throughput_texts_per_s']:.1f}",
        )
    console.print(table)
    device = report["device"]
    console.print(
        f"{device['cpu']} · {device['cpu_count']} cores · threads {device['threads'] or 'all'}",
        highlight=False,
    )
    console.print(f"chart: {Path(artifact.path) / CHART_FILE}", highlight=False, soft_wrap=True)
