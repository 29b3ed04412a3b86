"""Errors of nerp-deploy; each names the file, field or request part at fault and why."""

from __future__ import annotations

__all__ = ["DeployError", "InputError", "PackageError"]


class DeployError(ValueError):
    """Base of nerp-deploy's own errors, so callers can catch them apart from bugs."""


class PackageError(DeployError):
    """An ONNX package (or model checkpoint) directory is missing files or is inconsistent."""


class InputError(DeployError):
    """Text or a file given for prediction cannot be used (empty, too large, unreadable)."""

    def __init__(self, reason: str, *, field: str | None = None, status: int = 422) -> None:
        self.reason = reason
        self.field = field
        self.status = status
        super().__init__(f"{field}: {reason}" if field else reason)
