"""``nerp evaluate MODEL_OR_PACKAGE DATA``: strict entity-level scores and an error table."""

from __future__ import annotations

import json
from typing import Annotated, Any

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

__all__ = ["evaluate"]


def _tables(report: dict[str, Any]) -> list[Table]:
    from nerp_eval.evaluation.errors import ERROR_CLASSES

    scores = Table(title=f"{report['backbone']} · {report['backend']}")
    for column in ("type", "precision", "recall", "F1", "support", "predicted"):
        scores.add_column(column, justify="left" if column == "type" else "right")
    for name, row in report["per_type"].items():
        scores.add_row(
            name,
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            str(row["support"]),
            str(row["predicted"]),
        )
    for average in ("micro", "macro"):
        row = report[average]
        scores.add_row(
            f"[bold]{average}[/]",
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            str(report["support"]) if average == "micro" else "",
            "",
        )
    errors = Table(title="Errors per entity type")
    classes = ["correct", *ERROR_CLASSES]
    errors.add_column("type")
    for name in classes:
        errors.add_column(name.replace("_", " "), justify="right")
    by_type = report["errors"]["by_type"]
    for name, row in by_type.items():
        errors.add_row(name, *[str(row.get(c, 0)) for c in classes])
    totals = report["errors"]["totals"]
    errors.add_row("[bold]total[/]", *[str(totals.get(c, 0)) for c in classes])
    return [scores, errors]


def evaluate(
    model_or_package: Annotated[
        str,
        typer.Argument(
            help="Model artifact (or its model/ folder), ONNX package, or an artifact id."
        ),
    ],
    data: Annotated[
        str,
        typer.Argument(help="Dataset artifact (folder or id) or a .json/.jsonl documents file."),
    ],
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            "-b",
            help="torch (checkpoint), onnx_fp32, onnx_int8 or openvino_bf16 (package, the "
            "last with nerp-deploy[openvino] on a CPU with bf16 instructions); repeatable. "
            "Default: torch for a checkpoint, int8 (else fp32) for a package.",
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split to evaluate on.")] = "test",
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per forward pass.")] = 16,
    experiment: ExperimentOption = None,
    overrides: SetOption = None,
    output_root: OutputRootOption = None,
    force: ForceOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Score a PyTorch checkpoint or an ONNX package on whole documents (seqeval, strict).

    Prints precision, recall, F1 and support per entity type with micro and macro
    averages, and where the errors are (wrong type, wrong boundary, missed, spurious).
    Writes an evaluation artifact under the output root and logs to MLflow.

    Examples:

        nerp evaluate outputs/convert/tiny/conv-1a2b3c4d/v1 outputs/data/all/data-5e6f7a8b/v1

        nerp evaluate outputs/final_training/tiny/…/v1 test.jsonl --backend torch
    """
    from nerp_eval.evaluation.run import run_evaluation
    from nerp_eval.inputs import evaluation_data, model_or_package_path
    from nerp_eval.targets import BACKENDS, resolve_targets

    console = Console()
    with failures():
        bad = [b for b in backend or [] if b not in BACKENDS]
        if bad:
            raise typer.BadParameter(
                f"{bad[0]!r} is not one of {', '.join(BACKENDS)}", param_hint="--backend"
            )
        config, ctx = open_stage_context(experiment, overrides, output_root, force=force)
        path = model_or_package_path(model_or_package, ctx.index, tracking=config.tracking)
        targets = resolve_targets(path, tuple(backend or ()))  # type: ignore[arg-type]
        documents = evaluation_data(data, index=ctx.index, split=split)
        results = []
        for target in targets:
            run = run_evaluation(
                target,
                documents,
                index=ctx.index,
                layout=ctx.layout,
                run_mode=ctx.run_mode("reuse_if_exists"),
                batch_size=batch_size,
                tracking=config.tracking,
                naming=config.naming,
            )
            results.append({**run.report, "artifact": str(run.artifact_dir), "action": run.action})
    if as_json:
        typer.echo(json.dumps(results if len(results) > 1 else results[0], indent=1))
        return
    for result in results:
        for table in _tables(result):
            console.print(table)
        verb = "reused" if result["action"] == "reuse" else "wrote"
        console.print(
            f"{verb} evaluation artifact {result['artifact']}", highlight=False, soft_wrap=True
        )
