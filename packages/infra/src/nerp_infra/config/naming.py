"""Naming section: run-name patterns per stage, checked when loaded and when rendered."""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import Field, model_validator

from nerp_infra.config.base import ConfigModel
from nerp_infra.config.errors import KeyedValueError

__all__ = ["PLACEHOLDERS", "NamingConfig", "RunKind"]

RunKind = Literal[
    "hpo_parent",
    "trial",
    "fold",
    "refit",
    "final_training",
    "conversion",
    "benchmark",
    "selection",
    "evaluation",
]

_ARTIFACT = frozenset({"backbone", "spec8", "exec8", "variant", "version"})
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "hpo_parent": frozenset({"study", "backbone", "version"}),
    "trial": frozenset({"study", "backbone", "trial", "version"}),
    "fold": frozenset({"study", "backbone", "trial", "fold", "version"}),
    "refit": frozenset({"study", "backbone", "trial", "spec8", "exec8", "version"}),
    "final_training": _ARTIFACT,
    "conversion": _ARTIFACT,
    "benchmark": _ARTIFACT,
    "selection": frozenset({"study", "version"}),
    "evaluation": _ARTIFACT,
}
"""Placeholders each pattern may use: ``spec8``/``exec8`` are the first 8 hex digits of
the spec/exec fingerprints, ``version`` the run-name version the artifact index
allocates, ``variant`` the output variant number."""

_SAMPLE: dict[str, object] = {
    "study": "study",
    "backbone": "tiny",
    "trial": 1,
    "fold": 1,
    "version": 1,
    "variant": 1,
    "spec8": "0123abcd",
    "exec8": "0123abcd",
}

_FORBIDDEN = re.compile(r'[/\\:*?"<>|\s]')
_FORMATTER = string.Formatter()


def _placeholders(pattern: str) -> list[str]:
    """Field names used by a ``str.format`` pattern (raises ValueError on bad syntax)."""
    return [name for _, name, _, _ in _FORMATTER.parse(pattern) if name is not None]


def _check_text(text: str, what: str) -> None:
    match = _FORBIDDEN.search(text)
    if match:
        raise ValueError(
            f"{what} contains {match.group()!r}; names may not contain whitespace or "
            '/ \\ : * ? " < > |'
        )


class NamingConfig(ConfigModel):
    """Patterns (``str.format`` syntax) for MLflow run names, one per kind of run."""

    hpo_parent: str = "hpo-{study}-{backbone}-v{version}"
    trial: str = "hpo-{study}-{backbone}-t{trial}"
    fold: str = "hpo-{study}-{backbone}-t{trial}-f{fold}"
    refit: str = "hpo-{study}-{backbone}-t{trial}-refit"
    final_training: str = "train-{backbone}-{spec8}-{exec8}-v{variant}"
    conversion: str = "convert-{backbone}-{spec8}-v{variant}"
    benchmark: str = "bench-{backbone}-{spec8}-v{version}"
    selection: str = "select-{study}-v{version}"
    evaluation: str = "eval-{backbone}-{spec8}-v{version}"
    max_length: int = Field(default=250, ge=16)

    @model_validator(mode="after")
    def _patterns_valid(self) -> NamingConfig:
        for kind, allowed in PLACEHOLDERS.items():
            pattern: str = getattr(self, kind)
            try:
                names = _placeholders(pattern)
            except ValueError as exc:
                raise KeyedValueError([kind], f"invalid pattern {pattern!r}: {exc}") from None
            for name in names:
                if name not in allowed:
                    raise KeyedValueError(
                        [kind],
                        f"unknown placeholder {{{name}}}; {kind} may use "
                        + ", ".join(f"{{{item}}}" for item in sorted(allowed)),
                    )
            try:
                pattern.format(**_SAMPLE)
            except (ValueError, TypeError, KeyError) as exc:
                raise KeyedValueError([kind], f"pattern {pattern!r} cannot render: {exc}") from None
            literal = "".join(text for text, _, _, _ in _FORMATTER.parse(pattern))
            if not literal and not names:
                raise KeyedValueError([kind], "pattern is empty")
            try:
                _check_text(literal, "pattern")
            except ValueError as exc:
                raise KeyedValueError([kind], str(exc)) from None
        return self

    def render(self, kind: RunKind, **fields: Any) -> str:
        """The run name for ``kind``; raises ValueError if a field is missing or the result
        is too long or holds characters that break file systems and MLflow UIs.

        Pass short names (the backbone alias, not a Hub id with ``/``).
        """
        if kind not in PLACEHOLDERS:
            raise ValueError(f"unknown run kind {kind!r}; one of {', '.join(PLACEHOLDERS)}")
        pattern: str = getattr(self, kind)
        needed = set(_placeholders(pattern))
        missing = sorted(needed - fields.keys())
        if missing:
            raise ValueError(f"naming.{kind} needs {', '.join(missing)} to render {pattern!r}")
        unknown = sorted(fields.keys() - PLACEHOLDERS[kind])
        if unknown:
            raise ValueError(f"naming.{kind} has no placeholder {', '.join(unknown)}")
        name = pattern.format(**fields)
        _check_text(name, f"run name {name!r} (naming.{kind})")
        if len(name) > self.max_length:
            raise ValueError(
                f"run name {name[:40]!r}… (naming.{kind}) is {len(name)} characters, "
                f"longer than naming.max_length {self.max_length}"
            )
        return name
