"""Tag registry: the one list of ``nerp.*`` tag names every package writes to MLflow.

A registry instead of ad-hoc strings so a typo (``nerp.spec-fp``) fails when the tags
are built instead of silently making a run unfindable, and so eval can find HPO runs
by tags it knows exist. Packages add their own keys with :func:`register_tag` at import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nerp_infra.platform import detect_platform

__all__ = [
    "DEFAULT_TAGS",
    "REGISTRY",
    "TAG_PREFIX",
    "TAG_SCHEMA_VERSION",
    "TagRegistry",
    "TagSpec",
    "build_tags",
    "register_tag",
    "tag_name",
]

TAG_PREFIX = "nerp."
TAG_SCHEMA_VERSION = 1
"""Version of the tag vocabulary; written on every run so readers can adapt."""

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_TAG_VALUE = 8000  # MLflow's limit on tag values


@dataclass(frozen=True)
class TagSpec:
    """One known tag key and what it records."""

    key: str
    description: str

    @property
    def name(self) -> str:
        return TAG_PREFIX + self.key


DEFAULT_TAGS: tuple[TagSpec, ...] = (
    TagSpec("stage", "pipeline stage that made the run (hpo, final_training, convert, …)"),
    TagSpec("backbone", "backbone name, as used in output paths"),
    TagSpec("data_fp", "dataset fingerprint"),
    TagSpec("spec_fp", "what is trained: data, backbone, hyper-parameters, seed"),
    TagSpec("exec_fp", "how it runs: versions, precision, device type"),
    TagSpec("conv_fp", "conversion settings fingerprint"),
    TagSpec("bench_fp", "benchmark settings fingerprint"),
    TagSpec("lineage", "comma-separated ids of the input artifacts"),
    TagSpec("artifact_id", "id of the artifact the run writes"),
    TagSpec("artifact_kind", "kind of the artifact the run writes"),
    TagSpec("variant", "variant number of the artifact directory"),
    TagSpec("schema_version", "version of this tag vocabulary"),
    TagSpec("platform", "local, colab, kaggle or azureml"),
    TagSpec("run_key", "stable key of the logical run, to find it again on resume"),
    TagSpec("run_mode", "reuse_if_exists, force_new or resume_if_incomplete"),
    TagSpec("role", "parent, trial, fold or refit within a stage"),
    TagSpec("trial_number", "Optuna trial number"),
    TagSpec("fold", "cross-validation fold index"),
    TagSpec("study_name", "Optuna study name"),
    TagSpec("status_reason", "why a run ended as it did (e.g. killed)"),
    TagSpec("pid", "process id that started the run, to detect killed runs"),
    TagSpec("host", "host name that started the run, to detect killed runs"),
    TagSpec("azure_job_id", "Azure ML job that ran the stage"),
)


def _stringify(key: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    elif isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        items = [str(v) for v in value]
        bad = [v for v in items if "," in v]
        if bad:
            raise ValueError(f"tag {TAG_PREFIX}{key}: list item {bad[0]!r} contains a comma")
        text = ",".join(items)
    else:
        raise TypeError(
            f"tag {TAG_PREFIX}{key}: value of type {type(value).__name__} cannot be a tag; "
            "pass a string, number, bool or list of strings"
        )
    if len(text) > MAX_TAG_VALUE:
        raise ValueError(
            f"tag {TAG_PREFIX}{key}: value has {len(text)} characters, "
            f"MLflow allows {MAX_TAG_VALUE}"
        )
    return text


class TagRegistry:
    """Known tag keys; building tags with an unknown key is an error."""

    def __init__(self, specs: Iterable[TagSpec] = DEFAULT_TAGS) -> None:
        self._specs: dict[str, TagSpec] = {}
        for spec in specs:
            self.register(spec.key, spec.description)

    def register(self, key: str, description: str) -> TagSpec:
        """Add a key (idempotent for the same description; a clash is an error)."""
        if not _KEY.match(key):
            raise ValueError(f"tag key {key!r} must be lower_snake_case (a-z, 0-9, _)")
        spec = TagSpec(key, description)
        existing = self._specs.get(key)
        if existing is not None and existing != spec:
            raise ValueError(f"tag key {key!r} is already registered as {existing.description!r}")
        self._specs[key] = spec
        return spec

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(sorted(self._specs))

    def specs(self) -> tuple[TagSpec, ...]:
        return tuple(self._specs[k] for k in self.keys)

    def name(self, key: str) -> str:
        """Full tag name (``nerp.<key>``) of a known key."""
        self._require(key)
        return TAG_PREFIX + key

    def _require(self, key: str) -> None:
        if key not in self._specs:
            raise ValueError(
                f"unknown tag key {key!r}; known keys: {', '.join(self.keys)} "
                "(add one with nerp_infra.tags.register_tag)"
            )

    def build(self, *, defaults: bool = True, **values: Any) -> dict[str, str]:
        """Tags named ``nerp.<key>`` from keyword values; ``None`` values are left out.

        With ``defaults``, ``schema_version`` and ``platform`` are filled in unless given,
        so every run says which vocabulary it uses and where it ran.
        """
        unknown = sorted(k for k in values if k not in self._specs)
        if unknown:
            self._require(unknown[0])
        if defaults:
            values.setdefault("schema_version", TAG_SCHEMA_VERSION)
            values.setdefault("platform", detect_platform())
        return {
            TAG_PREFIX + key: _stringify(key, value)
            for key, value in sorted(values.items())
            if value is not None
        }


REGISTRY = TagRegistry()
"""The process-wide registry used by :func:`build_tags`."""


def register_tag(key: str, description: str) -> TagSpec:
    """Add a key to the process-wide registry (call at import time of the owning module)."""
    return REGISTRY.register(key, description)


def tag_name(key: str) -> str:
    """``nerp.<key>`` for a registered key; raises ValueError naming the known keys otherwise."""
    return REGISTRY.name(key)


def build_tags(**values: Any) -> dict[str, str]:
    """Build ``nerp.*`` tags from the process-wide registry (unknown keys are rejected)."""
    return REGISTRY.build(**values)
