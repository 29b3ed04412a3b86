"""An ``MLClient`` stand-in that runs Azure ML jobs as local processes.

What cannot run here is a workspace; what can is the job itself. :class:`LocalMLClient`
implements the part of ``MLClient`` nerp uses (``jobs.create_or_update/get/stream/download/
list/begin_cancel``, ``data`` and ``environments``) and executes each submitted job the way
Azure ML would, but on this machine: the job's ``command`` with ``${{inputs.*}}`` and
``${{outputs.*}}`` replaced by local folders, in its ``code`` folder, with its environment
variables. Data assets registered through it resolve to the folders they were made from. A
sweep job runs ``max_total_trials`` children with values drawn from its search space (random
or grid; early termination is not simulated) and lists them as its children.

It exists so the code that submits jobs and records their outputs is exercised end to end
in tests, with the real SDK job objects and the real ``nerp`` commands; it is not a
production backend (no isolation, no environment build, jobs run one after another), so it
lives with the tests (``tests/support`` is on pytest's ``pythonpath``) and ships in no wheel.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerp_infra.azureml.errors import AzureJobSpecError
from nerp_infra.azureml.jobs import as_job

__all__ = ["LocalJob", "LocalMLClient"]

_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs|search_space)\.([A-Za-z0-9_]+)\s*\}\}")
_ASSET_REF = re.compile(r"^azureml:([^/:]+):([^/:]+)$")
_LOG_TAIL = 2000


@dataclass
class LocalJob:
    """What ``jobs.get`` returns: the fields of a job entity that nerp reads."""

    name: str
    status: str
    studio_url: str
    experiment_name: str | None
    display_name: str | None
    tags: dict[str, str]
    type: str
    properties: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    log: str = ""
    error: str | None = None
    output_dirs: dict[str, Path] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, Path]:
        return dict(self.output_dirs)

    @property
    def services(self) -> dict[str, Any]:
        return {"Studio": _Endpoint(self.studio_url)}


@dataclass(frozen=True)
class _Endpoint:
    endpoint: str


@dataclass(frozen=True)
class _ErrorDetail:
    code: str
    message: str


@dataclass(frozen=True)
class _ErrorResponse:
    error: _ErrorDetail


@dataclass(frozen=True)
class _RunDetails:
    error: _ErrorResponse | None


class _RunOperations:
    def __init__(self, jobs: _LocalJobs) -> None:
        self._jobs = jobs

    def get_run_details(self, name: str) -> _RunDetails:
        job = self._jobs._require(name)
        if job.error is None:
            return _RunDetails(None)
        return _RunDetails(_ErrorResponse(_ErrorDetail("UserError", job.error)))


class _LocalAssets:
    """``ml_client.data`` / ``ml_client.environments``: entities by (name, version)."""

    def __init__(self) -> None:
        self.assets: dict[tuple[str, str], Any] = {}

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        if (name, version or "") not in self.assets:
            raise ResourceNotFoundError(f"asset {name}:{version} not found")
        return self.assets[(name, version or "")]

    def create_or_update(self, entity: Any) -> Any:
        self.assets[(entity.name, str(entity.version))] = entity
        return entity


class _LocalJobs:
    def __init__(self, client: LocalMLClient) -> None:
        self._client = client
        self.jobs: dict[str, LocalJob] = {}
        self._runs_operations = _RunOperations(self)

    def _require(self, name: str) -> LocalJob:
        from azure.core.exceptions import ResourceNotFoundError

        if name not in self.jobs:
            raise ResourceNotFoundError(f"job {name} not found")
        return self.jobs[name]

    def create_or_update(self, job: Any, **_: Any) -> LocalJob:
        real = as_job(job)
        spec = real._to_dict()
        name = real.name or f"nerp-local-{len(self.jobs) + 1}"
        entity = self._new(name, spec)
        if spec.get("type") == "sweep":
            self._run_sweep(entity, spec)
        else:
            self._run_command(entity, spec, spec.get("inputs") or {})
        return entity

    def _new(self, name: str, spec: Mapping[str, Any], **fields: Any) -> LocalJob:
        entity = LocalJob(
            name=name,
            status="Running",
            studio_url=f"{self._client.studio_base}/{name}",
            experiment_name=spec.get("experiment_name"),
            display_name=spec.get("display_name"),
            tags=dict(spec.get("tags") or {}),
            type=str(spec.get("type", "command")),
            **fields,
        )
        self.jobs[name] = entity
        return entity

    def _run_command(
        self, job: LocalJob, spec: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> None:
        workdir = self._client.root / job.name
        values = {key: self._client.resolve_input(key, value) for key, value in inputs.items()}
        job.inputs = values
        for output in spec.get("outputs") or {}:
            folder = workdir / "outputs" / output
            folder.mkdir(parents=True, exist_ok=True)
            job.output_dirs[output] = folder
        command = _substitute(str(spec["command"]), values, job.output_dirs)
        code = spec.get("code")
        cwd = Path(str(code).removeprefix("azureml:")) if code else workdir
        env = {
            **os.environ,
            **self._client.env,
            **{k: str(v) for k, v in (spec.get("environment_variables") or {}).items()},
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        job.log = f"$ {command}\n{done.stdout}{done.stderr}"
        (workdir / "std_log.txt").write_text(job.log, encoding="utf-8")
        job.status = "Completed" if done.returncode == 0 else "Failed"
        if done.returncode != 0:
            job.error = f"exit code {done.returncode}: {done.stderr[-_LOG_TAIL:].strip()}"

    def _run_sweep(self, job: LocalJob, spec: Mapping[str, Any]) -> None:
        trial = dict(spec["trial"])
        trial["outputs"] = spec.get("outputs") or trial.get("outputs") or {}
        limits = spec.get("limits") or {}
        samples = _samples(
            spec["search_space"],
            algorithm=str(spec.get("sampling_algorithm", "random")),
            n=int(limits.get("max_total_trials") or 1),
            seed=self._client.seed,
        )
        statuses = []
        for number, values in enumerate(samples):
            child = self._new(f"{job.name}_{number}", spec, parent=job.name)
            child.type = "command"
            self._run_command(child, trial, {**(spec.get("inputs") or {}), **values})
            statuses.append(child.status)
        job.status = "Completed" if "Completed" in statuses else "Failed"
        if job.status == "Failed":
            job.error = f"all {len(statuses)} trials failed"

    def get(self, name: str) -> LocalJob:
        return self._require(name)

    def stream(self, name: str) -> None:
        job = self._require(name)
        sys.stdout.write(f"RunId: {name}\n{job.log}")
        for child in self.list(parent_job_name=name):
            sys.stdout.write(f"RunId: {child.name}\n{child.log}")

    def begin_cancel(self, name: str, **_: Any) -> None:
        job = self._require(name)
        if job.status not in ("Completed", "Failed"):
            job.status = "Canceled"

    def list(self, parent_job_name: str | None = None, **_: Any) -> Iterator[LocalJob]:
        return iter([job for job in self.jobs.values() if job.parent == parent_job_name])

    def download(
        self,
        name: str,
        *,
        download_path: str | os.PathLike[str] = ".",
        output_name: str | None = None,
        all: bool = False,  # the SDK's keyword
    ) -> None:
        job = self._require(name)
        wanted = list(job.output_dirs) if all or output_name is None else [output_name]
        for output in wanted:
            if output in job.output_dirs:
                target = Path(download_path) / "named-outputs" / output
                shutil.copytree(job.output_dirs[output], target, dirs_exist_ok=True)


class LocalMLClient:
    """Runs submitted jobs under ``root`` (one folder per job); see the module doc.

    ``env`` is added to every job's environment (as Azure ML adds its tracking URI).
    """

    def __init__(
        self,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        seed: int = 0,
        studio_base: str = "https://ml.azure.com/runs",
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or {})
        self.seed = seed
        self.studio_base = studio_base
        self.jobs = _LocalJobs(self)
        self.data = _LocalAssets()
        self.environments = _LocalAssets()

    def resolve_input(self, key: str, value: Any) -> str:
        """A job input as the command sees it: a local path, or the literal value."""
        if not isinstance(value, Mapping):
            return str(value)
        if "path" not in value:
            return str(value.get("default", ""))
        path = str(value["path"])
        match = _ASSET_REF.match(path)
        if match:
            asset = self.data.get(match.group(1), match.group(2))
            return str(asset.path)
        local = Path(path.removeprefix("azureml:"))
        if not local.exists():
            raise AzureJobSpecError(f"job input {key!r}: {path} is neither an asset nor a path")
        return str(local)


def _substitute(command: str, inputs: Mapping[str, str], outputs: Mapping[str, Path]) -> str:
    def replace(match: re.Match[str]) -> str:
        group, name = match.group(1), match.group(2)
        table: Mapping[str, Any] = outputs if group == "outputs" else inputs
        if name not in table:
            raise AzureJobSpecError(f"command refers to {group}.{name}, which the job lacks")
        return str(table[name])

    return _PLACEHOLDER.sub(replace, command)


def _draw(name: str, space: Mapping[str, Any], rng: random.Random) -> Any:
    kind = space["type"]
    if kind == "choice":
        return rng.choice(list(space["values"]))
    low, high = float(space.get("min_value", 0)), float(space.get("max_value", 0))
    if kind == "uniform":
        return rng.uniform(low, high)
    if kind == "loguniform":
        return math.exp(rng.uniform(low, high))
    if kind in ("quniform", "qloguniform"):
        value = rng.uniform(low, high)
        value = math.exp(value) if kind == "qloguniform" else value
        q = float(space["q"])
        return round(value / q) * q
    raise AzureJobSpecError(f"search_space.{name}: type {kind!r} is not supported locally")


def _samples(
    search_space: Mapping[str, Any], *, algorithm: str, n: int, seed: int
) -> list[dict[str, Any]]:
    if algorithm == "grid":
        names = list(search_space)
        grids = [list(search_space[name]["values"]) for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)][:n]
    rng = random.Random(seed)
    return [{name: _draw(name, spec, rng) for name, spec in search_space.items()} for _ in range(n)]
