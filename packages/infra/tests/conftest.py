"""Shared fixtures of the nerp-infra tests.

Azure ML cannot run here, so the Azure tests talk to an in-process stand-in of the
``MLClient`` surface nerp uses (``jobs``, ``data``, ``environments``) that returns real SDK
entity objects. The Azure SDK is imported inside the stand-in only, so the other tests do
not pay for importing it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

STUDIO_BASE = "https://ml.azure.com/runs"


class FakeRunOperations:
    """Run history: the only place the service reports a failed job's error."""

    def __init__(self, jobs: FakeJobsOperations) -> None:
        self._jobs = jobs

    def get_run_details(self, name: str) -> Any:
        from azure.ai.ml._restclient.runhistory.models import RunDetails

        self._jobs._require(name)
        body: dict[str, Any] = {"runId": name, "status": self._jobs.last_status}
        if self._jobs.error is not None:
            code, message = self._jobs.error
            body["error"] = {"error": {"code": code, "message": message}}
        return RunDetails(body)  # the SDK's model, as deserialized from the service's JSON


class FakeJobsOperations:
    """``ml_client.jobs``: each ``get`` walks a scripted status sequence (the last repeats)."""

    def __init__(
        self,
        statuses: Sequence[str],
        *,
        error: tuple[str, str] | None = None,
        run_details_available: bool = True,
        stream_raises: BaseException | None = None,
    ) -> None:
        self.statuses = list(statuses)
        self.error = error
        self.stream_raises = stream_raises
        self.submitted: list[Any] = []
        self.streamed: list[str] = []
        self.canceled: list[str] = []
        self.get_calls = 0
        self.last_status: str | None = None
        self.cancel_raises: BaseException | None = None
        if run_details_available:
            self._runs_operations = FakeRunOperations(self)

    def _require(self, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        for job in self.submitted:
            if job.name == name:
                return job
        raise ResourceNotFoundError(f"job {name} not found")

    def _entity(self, job: Any, status: str) -> Any:
        from azure.ai.ml.entities import CommandJob, JobService

        return CommandJob(
            name=job.name,
            command=job.command,
            environment=job.environment,
            compute=job.compute,
            experiment_name=job.experiment_name,
            status=status,
            services={"Studio": JobService(endpoint=f"{STUDIO_BASE}/{job.name}")},
        )

    def create_or_update(self, job: Any, **_: Any) -> Any:
        real = job._to_job() if hasattr(job, "_to_job") else job
        real.name = real.name or f"nerp-job-{len(self.submitted) + 1}"
        self.submitted.append(real)
        return self._entity(real, "NotStarted")

    def get(self, name: str) -> Any:
        job = self._require(name)
        status = self.statuses[min(self.get_calls, len(self.statuses) - 1)]
        self.get_calls += 1
        self.last_status = status
        return self._entity(job, status)

    def stream(self, name: str) -> None:
        from azure.ai.ml.exceptions import ErrorCategory, ErrorTarget, JobException

        self._require(name)
        self.streamed.append(name)
        if self.stream_raises is not None:
            raise self.stream_raises
        sys.stdout.write(f"RunId: {name}\nStreaming azureml-logs/std_log.txt\n")
        if self.statuses[-1] == "Failed":
            # What the SDK raises at the end of the stream of a failed job.
            detail = self.error[1] if self.error else "Detailed error not set on the Run."
            raise JobException(
                message=f"Exception : \n {detail} ",
                target=ErrorTarget.JOB,  # type: ignore[arg-type]  # as the SDK passes them
                no_personal_data_message="Exception raised on failed job.",
                error_category=ErrorCategory.SYSTEM_ERROR,  # type: ignore[arg-type]
            )

    def begin_cancel(self, name: str, **_: Any) -> None:
        self._require(name)
        if self.cancel_raises is not None:
            raise self.cancel_raises
        self.canceled.append(name)


class FakeAssetOperations:
    """``ml_client.data`` / ``ml_client.environments``: versioned entities by (name, version)."""

    def __init__(self) -> None:
        self.assets: dict[tuple[str, str], Any] = {}
        self.created: list[Any] = []

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        key = (name, version or "")
        if key not in self.assets:
            raise ResourceNotFoundError(f"asset {name}:{version} not found")
        return self.assets[key]

    def create_or_update(self, entity: Any) -> Any:
        self.assets[(entity.name, entity.version)] = entity
        self.created.append(entity)
        return entity


@dataclass
class FakeMLClient:
    jobs: FakeJobsOperations
    data: FakeAssetOperations = field(default_factory=FakeAssetOperations)
    environments: FakeAssetOperations = field(default_factory=FakeAssetOperations)


@dataclass
class FakeClock:
    """Time that moves only when the code under test sleeps."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    raise_on_sleep: BaseException | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.raise_on_sleep is not None:
            raise self.raise_on_sleep
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_ml_client() -> Callable[..., FakeMLClient]:
    """Factory: ``fake_ml_client(["Queued", "Running", "Completed"], error=(code, msg))``."""

    def make(statuses: Sequence[str] = ("Completed",), **jobs_kwargs: Any) -> FakeMLClient:
        return FakeMLClient(jobs=FakeJobsOperations(statuses, **jobs_kwargs))

    return make


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
