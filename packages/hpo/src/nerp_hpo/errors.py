"""Errors of the HPO package: each names the setting, study or file at fault and why."""

from __future__ import annotations

__all__ = ["HpoError", "SearchSpaceError", "StudyNotFoundError"]


class HpoError(RuntimeError):
    """A study that cannot run as asked (storage, budget, missing inputs, failing trials)."""


class SearchSpaceError(ValueError):
    """A search dimension that Optuna (or Azure ML) cannot represent.

    ``key_path`` is the dotted config key (``hpo.search_space.dropout``) so the message
    reads like the config loader's errors.
    """

    def __init__(self, key_path: str, reason: str) -> None:
        self.key_path = key_path
        self.reason = reason
        super().__init__(f"{key_path}: {reason}")


class StudyNotFoundError(HpoError, LookupError):
    """No study with that name in that storage (or no study artifact for that config)."""
