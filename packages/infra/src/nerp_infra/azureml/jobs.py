"""Command jobs with nerp's defaults, and job YAML for ``--dry-run``.

Package-level builders (final training, conversion, the HPO sweep built from a command job)
call :func:`command_job` so every nerp job looks the same in the studio: one experiment
naming scheme, unbuffered logs that stream live, inputs and outputs as folders. A dry run
writes each job's YAML and loads it back with ``azure.ai.ml.load_job``: what is written is
exactly what the workspace would accept, checked without a workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Required, TypedDict, Unpack

from nerp_infra.azureml.errors import AzureJobSpecError
from nerp_infra.azureml.workspace import DEFAULT_COMPUTE, WorkspaceSettings

if TYPE_CHECKING:
    from azure.ai.ml.entities import Command, Environment, Job

    from nerp_infra.config import ExperimentConfig

DEFAULT_EXPERIMENT = "nerp"
DEFAULT_ENVIRONMENT_VARIABLES: dict[str, str] = {"PYTHONUNBUFFERED": "1"}


def is_remote(value: str) -> bool:
    """An Azure ML reference (`azureml:name:version`) or a URL, not a local path."""
    return value.startswith("azureml:") or "://" in value


def _to_input(key: str, value: Any) -> Any:
    """Paths and asset/URI strings become data inputs; other literals stay job parameters."""
    from azure.ai.ml import Input
    from azure.ai.ml.constants import AssetTypes

    if isinstance(value, Path):
        if not value.exists():
            raise AzureJobSpecError(f"job input {key!r}: local path {value} does not exist")
        kind = AssetTypes.URI_FILE if value.is_file() else AssetTypes.URI_FOLDER
        return Input(type=kind, path=str(value))
    if isinstance(value, str) and is_remote(value):
        return Input(type=AssetTypes.URI_FOLDER, path=value)
    return value


def _to_output(key: str, value: Any) -> Any:
    from azure.ai.ml import Output
    from azure.ai.ml.constants import AssetTypes

    if value is None:
        return Output(type=AssetTypes.URI_FOLDER)
    if isinstance(value, str | Path):
        return Output(type=AssetTypes.URI_FOLDER, path=str(value))
    return value


def command_job(
    *,
    command: str,
    environment: str | Environment,
    experiment_name: str | None = None,
    compute: str | None = None,
    display_name: str | None = None,
    code: str | Path | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    environment_variables: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    instance_count: int | None = None,
    distribution: Any = None,
    timeout_s: int | None = None,
    settings: WorkspaceSettings | None = None,
) -> Command:
    """A ``command()`` node with nerp defaults; submit it or turn it into a sweep.

    ``compute`` and ``experiment_name`` fall back to ``settings`` and then to
    ``cpu-cluster`` / ``nerp``. ``environment`` should be the reference returned by
    ``ensure_environment``: an ``Environment`` object is registered anonymously, per job.
    Inputs: ``Path`` (local file or folder), ``azureml:`` asset
    references and URIs become data inputs; numbers and other strings stay parameters.
    Outputs: None (default datastore), a path/URI, or an ``Output``.
    """
    from azure.ai.ml import command as sdk_command

    if not command.strip():
        raise AzureJobSpecError("command_job: command is empty")
    if code is not None and not is_remote(str(code)) and not Path(code).is_dir():
        raise AzureJobSpecError(f"command_job: code folder {code} does not exist")
    env_vars = {**DEFAULT_ENVIRONMENT_VARIABLES, **(environment_variables or {})}
    return sdk_command(
        command=command,
        environment=environment,
        compute=compute or (settings.compute if settings else DEFAULT_COMPUTE),
        experiment_name=(
            experiment_name
            or (settings.experiment_name if settings else None)
            or DEFAULT_EXPERIMENT
        ),
        display_name=display_name,
        description=description,
        code=str(code) if code is not None else None,
        inputs={k: _to_input(k, v) for k, v in (inputs or {}).items()},
        outputs={k: _to_output(k, v) for k, v in (outputs or {}).items()},
        environment_variables=env_vars,
        tags=dict(tags or {}),
        instance_count=instance_count,
        distribution=distribution,
        timeout=timeout_s,
    )


class StageJobArgs(TypedDict, total=False):
    """The :func:`command_job` arguments a stage job passes through (outputs, tags and the
    node count are the stage job's own)."""

    command: Required[str]
    environment: Required[str | Environment]
    experiment_name: str | None
    compute: str | None
    display_name: str | None
    code: str | Path | None
    inputs: Mapping[str, Any] | None
    environment_variables: Mapping[str, str] | None
    description: str | None
    distribution: Any
    timeout_s: int | None
    settings: WorkspaceSettings | None


def stage_job(
    *,
    stage: str,
    backbone: str,
    lineage: list[str] | None,
    output: str,
    **job: Unpack[StageJobArgs],
) -> Command:
    """A one-node :func:`command_job` (``job`` its arguments) of a pipeline stage writing into
    job output ``output``, tagged like the stage's local runs so the studio and MLflow agree."""
    from nerp_infra.tags import REGISTRY

    tags = REGISTRY.build(defaults=False, stage=stage, backbone=backbone, lineage=lineage or None)
    return command_job(outputs={output: None}, tags=tags, instance_count=1, **job)


def write_resolved_experiment(config: ExperimentConfig, out_dir: Path) -> Path:
    """Write ``config`` as ``out_dir/experiment.resolved.yaml``, the job's ``config`` input:
    the job runs exactly the settings resolved here (overrides and champion applied)."""
    from nerp_infra.config import dump_config

    out_dir.mkdir(parents=True, exist_ok=True)
    config_file = out_dir / "experiment.resolved.yaml"
    config_file.write_text(dump_config(config), encoding="utf-8")
    return config_file


def as_job(job: Any) -> Job:
    """The standalone Job of a ``command()`` node (or the Job itself)."""
    to_job = getattr(job, "_to_job", None)
    return to_job() if callable(to_job) else job


def dump_job_yaml(job: Any, path: Path) -> Path:
    """Write ``job`` (a Job or a builder node) as the YAML ``az ml job create`` accepts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    as_job(job).dump(path)
    return path


def validate_job_yaml(path: Path) -> Job:
    """Load a job YAML with the SDK's own schema; errors name the file."""
    from azure.ai.ml import load_job

    if not path.is_file():
        raise AzureJobSpecError(f"job YAML {path} does not exist")
    try:
        return as_job(load_job(source=path))
    except Exception as exc:  # the SDK raises marshmallow, yaml and its own errors
        raise AzureJobSpecError(f"job YAML {path} is not a valid Azure ML job: {exc}") from exc


def write_job_yamls(jobs: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """``--dry-run --out DIR``: write each job to ``DIR/<key>.yml`` and validate it."""
    written: dict[str, Path] = {}
    for key, job in jobs.items():
        path = dump_job_yaml(job, out_dir / f"{key}.yml")
        validate_job_yaml(path)
        written[key] = path
    return written
