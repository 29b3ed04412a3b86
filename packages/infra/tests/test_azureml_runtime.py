"""submit_and_wait against the in-process MLClient stand-in: every way a job can end."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from nerp_infra.azureml import (
    AzureJobError,
    AzureJobTimeout,
    command_job,
    submit_and_wait,
)

# The Azure SDK's schemas trigger marshmallow's own deprecation warnings on import.
pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")


@pytest.fixture
def job() -> Any:
    return command_job(
        command="python -c 'print(1)'",
        environment="azureml:nerp-env:0123456789ab",
        display_name="unit",
    )


def _wait(client: Any, job: Any, clock: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("stream_logs", False)
    return submit_and_wait(client, job, sleep=clock.sleep, clock=clock, **kwargs)


def test_completed_job_is_returned_after_polling_with_backoff(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Queued", "Running", "Running", "Running", "Running", "Completed"])
    finished = _wait(client, job, fake_clock, poll_interval_s=5, max_interval_s=30)
    assert finished.status == "Completed"
    assert finished.name == "nerp-job-1"
    assert fake_clock.sleeps == [5, 10, 20, 30, 30]
    assert client.jobs.get_calls == 6
    assert client.jobs.canceled == []
    submitted = client.jobs.submitted[0]._to_dict()
    assert submitted["command"] == "python -c 'print(1)'"
    assert submitted["environment"] == "azureml:nerp-env:0123456789ab"


def test_failed_job_raises_with_status_error_and_studio_url(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(
        ["Queued", "Running", "Failed"], error=("UserError", "CUDA out of memory in step 12")
    )
    with pytest.raises(AzureJobError) as info:
        _wait(client, job, fake_clock)
    err = info.value
    assert err.status == "Failed"
    assert err.job_name == "nerp-job-1"
    assert err.error == "UserError: CUDA out of memory in step 12"
    assert err.studio_url == "https://ml.azure.com/runs/nerp-job-1"
    message = str(err)
    assert "Failed" in message
    assert "CUDA out of memory" in message
    assert "https://ml.azure.com/runs/nerp-job-1" in message
    assert client.jobs.canceled == []


def test_failed_job_error_comes_from_the_log_stream_without_run_details(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any, capfd: Any
) -> None:
    client = fake_ml_client(
        ["Running", "Failed"],
        error=("UserError", "ValueError: bad label"),
        run_details_available=False,
    )
    with pytest.raises(AzureJobError) as info:
        _wait(client, job, fake_clock, stream_logs=True)
    assert client.jobs.streamed == ["nerp-job-1"]
    assert info.value.error is not None
    assert "ValueError: bad label" in info.value.error
    assert "Streaming azureml-logs" in capfd.readouterr().out


@pytest.mark.parametrize("status", ["Canceled", "NotResponding"])
def test_job_ending_without_completing_raises_with_its_status(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any, status: str
) -> None:
    client = fake_ml_client(["Running", status])
    with pytest.raises(AzureJobError) as info:
        _wait(client, job, fake_clock)
    assert info.value.status == status
    assert not isinstance(info.value, AzureJobTimeout)
    assert client.jobs.canceled == []


def test_streaming_completed_job_returns_it(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Running", "Completed"])
    finished = _wait(client, job, fake_clock, stream_logs=True)
    assert finished.status == "Completed"
    assert client.jobs.streamed == ["nerp-job-1"]


def test_timeout_cancels_the_remote_job(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Running"])
    with pytest.raises(AzureJobTimeout) as info:
        _wait(client, job, fake_clock, timeout_s=30, poll_interval_s=4, max_interval_s=16)
    assert info.value.status == "Running"
    assert info.value.canceled is True
    assert "timed out after 30 s" in str(info.value)
    assert client.jobs.canceled == ["nerp-job-1"]
    # Never sleeps past the deadline.
    assert fake_clock.sleeps == [4, 8, 16, 2]
    assert fake_clock.now == 30


def test_timeout_without_cancel_leaves_the_job_running(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Running"])
    with pytest.raises(AzureJobTimeout) as info:
        _wait(client, job, fake_clock, timeout_s=10, cancel_on_timeout=False)
    assert info.value.canceled is False
    assert "still running remotely" in str(info.value)
    assert client.jobs.canceled == []


def test_ctrl_c_while_waiting_cancels_the_job_and_reraises(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Queued", "Running"])
    fake_clock.raise_on_sleep = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _wait(client, job, fake_clock)
    assert client.jobs.canceled == ["nerp-job-1"]


def test_ctrl_c_keeps_the_job_when_not_asked_to_cancel(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Running"])
    fake_clock.raise_on_sleep = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _wait(client, job, fake_clock, cancel_on_interrupt=False)
    assert client.jobs.canceled == []


def test_ctrl_c_during_log_stream_cancels_the_job(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Running"], stream_raises=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _wait(client, job, fake_clock, stream_logs=True)
    assert client.jobs.canceled == ["nerp-job-1"]


def test_failing_cancel_does_not_hide_the_interrupt(
    fake_ml_client: Callable[..., Any], fake_clock: Any, job: Any
) -> None:
    client = fake_ml_client(["Running"])
    client.jobs.cancel_raises = RuntimeError("service unavailable")
    fake_clock.raise_on_sleep = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _wait(client, job, fake_clock)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"poll_interval_s": 0}, "poll_interval_s"),
        ({"poll_interval_s": 10, "max_interval_s": 5}, "max_interval_s"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_invalid_wait_settings_are_rejected_before_submitting(
    fake_ml_client: Callable[..., Any], job: Any, kwargs: dict[str, Any], needle: str
) -> None:
    client = fake_ml_client(["Completed"])
    with pytest.raises(ValueError, match=needle):
        submit_and_wait(client, job, **kwargs)
    assert client.jobs.submitted == []


def test_job_errors_survive_pickling() -> None:
    err = AzureJobTimeout("Running", "j1", studio_url="https://x", timeout_s=5, canceled=True)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is AzureJobTimeout
    assert (back.status, back.job_name, back.studio_url) == ("Running", "j1", "https://x")
    assert back.canceled is True
    assert str(back) == str(err)
