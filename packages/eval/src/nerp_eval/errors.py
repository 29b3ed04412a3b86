"""Errors of nerp-eval; each names the file, artifact or field at fault and why."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AcquisitionError", "EvalError", "SelectionError"]


class EvalError(ValueError):
    """Base of nerp-eval's own errors, so callers can tell bad input apart from bugs."""


class SelectionError(EvalError):
    """Selection cannot decide: no studies, no trials with enough support, missing latency."""


class AcquisitionError(EvalError):
    """A checkpoint could not be found anywhere; lists every place tried and why it failed.

    A user fixing a missing model needs all the places at once (the local folder was
    deleted *and* the MLflow run has no copy), not the first failure only.
    """

    def __init__(self, what: str, attempts: Sequence[tuple[str, str]]) -> None:
        self.what = what
        self.attempts = list(attempts)
        tried = "\n".join(f"  - {where}: {why}" for where, why in self.attempts) or "  (nothing)"
        super().__init__(f"cannot acquire {what}; tried:\n{tried}")
