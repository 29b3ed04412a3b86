"""Submit an Azure ML job and wait for it like a local command: logs, exit status, Ctrl-C.

The SDK's ``jobs.stream`` blocks until the job ends and turns Ctrl-C into a generic
exception, so it cannot honour a timeout or cancel the remote job. Here the log stream
runs in a daemon thread while the main thread polls the status with backoff; Ctrl-C and the
timeout are handled in the main thread, where they can cancel the job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nerp_infra.azureml.errors import AzureJobError, AzureJobTimeout, AzureMLError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Job

logger = logging.getLogger(__name__)

COMPLETED = "Completed"
# "Paused" is terminal for the SDK too; waiting on it would never end.
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
# How long to let the log stream finish after the job reached a terminal status.
STREAM_DRAIN_S = 30.0


class _LogStream(threading.Thread):
    """Runs ``jobs.stream`` and keeps what it raised (a failed job makes it raise)."""

    def __init__(self, ml_client: MLClient, name: str) -> None:
        super().__init__(name=f"azureml-stream-{name}", daemon=True)
        self._ml_client = ml_client
        self._job_name = name
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._ml_client.jobs.stream(self._job_name)
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def _request_cancel(ml_client: MLClient, name: str, why: str) -> bool:
    """Ask Azure ML to cancel; never raises, so the original exception stays visible."""
    try:
        ml_client.jobs.begin_cancel(name)
    except Exception as exc:  # best effort during Ctrl-C or timeout
        logger.warning("could not cancel Azure ML job %s (%s): %s", name, why, exc)
        return False
    logger.warning("requested cancellation of Azure ML job %s (%s)", name, why)
    return True


def _job_error(ml_client: MLClient, name: str) -> str | None:
    """The job's error from run history; the job entity itself does not carry it."""
    try:
        details = ml_client.jobs._runs_operations.get_run_details(name)
    except Exception as exc:  # the error text is a courtesy, not essential
        logger.debug("could not fetch run details of %s: %s", name, exc)
        return None
    response = getattr(details, "error", None)
    root = getattr(response, "error", None)
    if root is None:
        return None
    code = getattr(root, "code", None)
    message = getattr(root, "message", None)
    text = ": ".join(str(part) for part in (code, message) if part)
    return text or None


def submit_and_wait(
    ml_client: MLClient,
    job: Any,
    *,
    poll_interval_s: float = 5,
    max_interval_s: float = 60,
    timeout_s: float | None = None,
    stream_logs: bool = True,
    cancel_on_interrupt: bool = True,
    cancel_on_timeout: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Job:
    """Submit ``job`` (a Job or a ``command()`` node), wait for it and return the finished job.

    Raises :class:`AzureJobError` (status, job name, error text, studio URL) when the job
    ends in any state but Completed, :class:`AzureJobTimeout` when ``timeout_s`` runs out,
    and re-raises ``KeyboardInterrupt`` after requesting cancellation when
    ``cancel_on_interrupt``. ``sleep`` and ``clock`` are injectable for tests.
    """
    if poll_interval_s <= 0 or max_interval_s < poll_interval_s:
        raise ValueError(
            f"poll_interval_s must be > 0 and <= max_interval_s, got {poll_interval_s} "
            f"and {max_interval_s}"
        )
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive or None, got {timeout_s}")

    submitted = ml_client.jobs.create_or_update(job)
    name = submitted.name
    if not name:
        raise AzureMLError("Azure ML accepted the job but returned no job name")
    studio_url = submitted.studio_url
    logger.info("submitted Azure ML job %s: %s", name, studio_url or "(no studio URL)")

    stream = _LogStream(ml_client, name) if stream_logs else None
    deadline = None if timeout_s is None else clock() + timeout_s
    interval = float(poll_interval_s)
    try:
        if stream is not None:
            stream.start()
        while True:
            if stream is not None and isinstance(stream.error, KeyboardInterrupt):
                raise KeyboardInterrupt from stream.error
            current = ml_client.jobs.get(name)
            status = current.status
            studio_url = current.studio_url or studio_url
            if status in TERMINAL_STATUSES:
                break
            if deadline is not None and clock() >= deadline:
                canceled = cancel_on_timeout and _request_cancel(ml_client, name, "timeout")
                raise AzureJobTimeout(
                    status, name, studio_url=studio_url, timeout_s=timeout_s, canceled=canceled
                )
            wait = interval if deadline is None else max(0.0, min(interval, deadline - clock()))
            if stream is not None and stream.is_alive():
                # The stream ends with the job, so waiting on it wakes us early.
                stream.join(wait)
            else:
                sleep(wait)
            interval = min(interval * 2, float(max_interval_s))
    except KeyboardInterrupt:
        if cancel_on_interrupt:
            _request_cancel(ml_client, name, "interrupted")
        else:
            logger.warning("Azure ML job %s keeps running remotely: %s", name, studio_url)
        raise

    if stream is not None:
        stream.join(STREAM_DRAIN_S)
    if status == COMPLETED:
        logger.info("Azure ML job %s completed", name)
        return current
    error = _job_error(ml_client, name)
    if error is None and stream is not None and stream.error is not None:
        error = str(stream.error).strip() or type(stream.error).__name__
    raise AzureJobError(status, name, error, studio_url)
