"""Errors raised by the Azure ML helpers.

They live apart from the helpers so callers can catch them without importing the Azure SDK.
"""

from __future__ import annotations


class AzureMLError(RuntimeError):
    """Base class of every nerp Azure ML error."""


class AzureMLSettingsError(AzureMLError, ValueError):
    """Workspace settings are missing or invalid; the message names each setting and its sources."""


class AzureJobSpecError(AzureMLError, ValueError):
    """A job YAML or a job/asset argument is invalid; the message names the file or argument."""


class AzureJobError(AzureMLError):
    """A remote job ended without completing (failed, canceled, not responding, …)."""

    def __init__(
        self,
        status: str | None,
        job_name: str,
        error: str | None = None,
        studio_url: str | None = None,
    ) -> None:
        self.status = status
        self.job_name = job_name
        self.error = error
        self.studio_url = studio_url
        parts = [f"Azure ML job {job_name!r} ended with status {status or 'unknown'}"]
        if error:
            parts.append(f"error: {error}")
        if studio_url:
            parts.append(f"studio: {studio_url}")
        super().__init__("; ".join(parts))

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the fields across pickling (multiprocessing, pytest-xdist).
        args = (self.status, self.job_name, self.error, self.studio_url)
        return (type(self), args, dict(self.__dict__))


class AzureJobTimeout(AzureJobError):
    """The job was still running when ``timeout_s`` ran out (it was canceled when asked)."""

    def __init__(
        self,
        status: str | None,
        job_name: str,
        error: str | None = None,
        studio_url: str | None = None,
        *,
        timeout_s: float | None = None,
        canceled: bool = False,
    ) -> None:
        self.timeout_s = timeout_s
        self.canceled = canceled
        detail = f"timed out after {timeout_s:g} s" if timeout_s is not None else "timed out"
        detail += " (cancel requested)" if canceled else " (still running remotely)"
        super().__init__(status, job_name, error or detail, studio_url)
