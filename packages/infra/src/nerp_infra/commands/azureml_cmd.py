"""``nerp azureml record JOB``: record a finished job's artifacts after the local wait ended.

``--target azureml`` records what a job made as soon as ``submit_and_wait`` returns. When
the wait ends first (``--timeout``, a closed laptop, a lost notebook session) the job runs
on and its outputs would never reach the local index; this command records them later,
exactly as the submitting command would have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nerp_infra.config.cli import fail
from nerp_infra.paths import OutputLayout, resolve_output_root

app = typer.Typer(no_args_is_help=True)


@app.callback()
def azureml() -> None:
    """Azure ML jobs: bring a finished job's artifacts home."""


def _output_names(job: Any, chosen: list[str] | None) -> list[str]:
    if chosen:
        return chosen
    names = sorted(getattr(job, "outputs", None) or {})
    # Every job also has the default artifact store output; it holds logs, not artifacts.
    return [name for name in names if not name.startswith("default")]


@app.command()
def record(
    job_name: Annotated[str, typer.Argument(help="Name of the finished Azure ML job.")],
    output: Annotated[
        list[str] | None,
        typer.Option("--output", help="Job output to record (repeatable). Default: every one."),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            "--output-root",
            envvar="NERP_OUTPUT_ROOT",
            help="Local output root (default: the platform's, ./outputs locally).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download a completed job's outputs and register the nerp artifacts in them."""
    from nerp_infra.artifacts import ArtifactIndex
    from nerp_infra.azureml import AzureMLError, connect_workspace, record_job_outputs

    output_root = root if root is not None else resolve_output_root(Path("outputs"))
    try:
        workspace = connect_workspace()
        job = workspace.ml_client.jobs.get(job_name)
        if job.status != "Completed":
            raise AzureMLError(
                f"Azure ML job {job_name!r} is {job.status}; only a completed job's "
                "outputs are recorded"
            )
        if getattr(job, "type", None) == "sweep":
            raise AzureMLError(
                f"Azure ML job {job_name!r} is a sweep: its trials are recorded by "
                "nerp-hpo when `nerp hpo run --target azureml` waits for it"
            )
        names = _output_names(job, output)
        if not names:
            raise AzureMLError(f"Azure ML job {job_name!r} has no named outputs to record")
        index, layout = ArtifactIndex(output_root), OutputLayout(output_root)
        recorded = [
            item
            for name in names
            for item in record_job_outputs(
                workspace.ml_client, job, name, index, layout, require_new=False
            )
        ]
    except ImportError as exc:
        raise fail(f"{exc}; pip install 'nerp-infra[azure]'") from None
    except AzureMLError as exc:
        raise fail(str(exc)) from None
    for item in recorded:
        typer.echo(f"recorded {item.manifest.kind} {item.id}: {item.path}")
    if not recorded:
        typer.echo(f"nothing new: the artifacts of {job_name} are already in {output_root}")
