"""Load an experiment: read files, follow section references, apply ``--set``, validate.

The raw tree remembers where each part came from (the experiment file, a referenced
section file, or a ``--set`` flag), so every error names the file the user must edit and
relative paths resolve against the file that wrote them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from nerp_infra.config.errors import ConfigError, ConfigProblem, KeyedValueError, did_you_mean
from nerp_infra.config.experiment import SECTIONS, ExperimentConfig
from nerp_infra.config.keys import file_relative_keys, keys_at, walk
from nerp_infra.config.overrides import apply_override, parse_overrides
from nerp_infra.config.yamlio import dump_yaml, read_yaml_mapping

__all__ = ["default_experiment_path", "dump_config", "input_problems", "load_experiment"]

DEFAULTS_DIR = Path(__file__).parent / "defaults"


def default_experiment_path() -> Path:
    """The experiment shipped with nerp-infra: synthetic data, tiny backbone, all stages."""
    return DEFAULTS_DIR / "experiment.yaml"


@dataclass(frozen=True)
class _Source:
    label: str
    base_dir: Path


@dataclass
class _RawExperiment:
    tree: dict[str, Any]
    sources: dict[tuple[str, ...], _Source] = field(default_factory=dict)

    def source_of(self, path: Sequence[str | int]) -> _Source:
        """The source that set ``path``: the one registered for its longest prefix."""
        keys = tuple(str(part) for part in path)
        for depth in range(len(keys), -1, -1):
            source = self.sources.get(keys[:depth])
            if source is not None:
                return source
        raise AssertionError("the experiment file is always registered at ()")


def _label(path: Path) -> str:
    return os.path.normpath(path)


def _read(path: Path) -> _RawExperiment:
    label = _label(path)
    tree = read_yaml_mapping(path, label)
    if not tree:
        # Running on would silently be the built-in default experiment, not this file's.
        raise ConfigError(
            label,
            "",
            "is empty; an experiment names at least what differs from the defaults "
            "(`nerp init DIR` writes a starter experiment)",
        )
    raw = _RawExperiment(tree, {(): _Source(label, path.parent.absolute())})
    for section in SECTIONS:
        value = tree.get(section)
        if section in tree and value is None:
            del tree[section]  # `section:` with nothing under it means "the defaults"
        elif isinstance(value, str):
            ref = path.parent / Path(value).expanduser()
            if not ref.is_file():
                problem = "is not a file" if ref.exists() else "does not exist"
                raise ConfigError(
                    label,
                    section,
                    f"refers to {value!r}, which {problem} (looked for {_label(ref)}, "
                    f"relative to {label})",
                )
            tree[section] = read_yaml_mapping(ref, _label(ref))
            raw.sources[(section,)] = _Source(_label(ref), ref.parent.absolute())
    return raw


def _resolve_file_relative(raw: _RawExperiment) -> None:
    for key_path in file_relative_keys(ExperimentConfig):
        node: Any = raw.tree
        for part in key_path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or key_path[-1] not in node:
            continue
        base = raw.source_of(key_path).base_dir
        value = node[key_path[-1]]
        if isinstance(value, str):
            node[key_path[-1]] = _relative_to(base, value)
        elif isinstance(value, list):
            node[key_path[-1]] = [
                _relative_to(base, item) if isinstance(item, str) else item for item in value
            ]


def _relative_to(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return value if path.is_absolute() else os.path.normpath(base / path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(raw: _RawExperiment, error: ErrorDetails) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    reason = error["msg"].removeprefix("Value error, ")
    if isinstance(cause, KeyedValueError):
        loc = (*loc, *cause.sub_path)
        reason = cause.reason
    path, annotation = walk(ExperimentConfig, loc)
    if error["type"] == "extra_forbidden" and path:
        _, parent = walk(ExperimentConfig, path[:-1])
        reason = f"unknown key{did_you_mean(str(path[-1]), keys_at(parent))}"
    elif error["type"] == "missing":
        reason = "required key is missing"
    elif error["type"] != "value_error":
        given = error.get("input")
        reason = f"{reason} (got {_short(given)})"
        if error["type"] == "literal_error" and isinstance(given, str):
            options = [str(option) for option in get_args(annotation)]
            if close := difflib.get_close_matches(given, options, n=1):
                reason = f"{reason}; did you mean {close[0]!r}?"
    keys = tuple(str(part) for part in path)
    below = [
        source.label
        for key_path, source in raw.sources.items()
        if len(key_path) > len(keys)
        and key_path[: len(keys)] == keys
        and source.label.startswith("--set ")
    ]
    if below:
        reason = f"{reason} (after {', '.join(below)})"
    return ConfigProblem(
        file=raw.source_of(path).label,
        key_path=".".join(str(part) for part in path),
        reason=reason,
    )


def load_experiment(
    path: str | Path | None = None, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Load, resolve and validate an experiment; raises one ConfigError listing every problem.

    ``path`` None loads the embedded default experiment. ``overrides`` are ``--set``
    strings (``train.epochs=2``); relative paths they hold resolve against the working
    directory, those in files against the file.
    """
    experiment_path = default_experiment_path() if path is None else Path(path).expanduser()
    raw = _read(experiment_path)
    for override in parse_overrides(overrides):
        owned = apply_override(raw.tree, override, ExperimentConfig)
        raw.sources[owned] = _Source(override.label, Path.cwd())
    _resolve_file_relative(raw)
    try:
        return ExperimentConfig.model_validate(raw.tree)
    except ValidationError as exc:
        problems = [_problem(raw, error) for error in exc.errors()]
        raise ConfigError.from_problems(problems) from None


def input_problems(cfg: ExperimentConfig, experiment: str | Path | None = None) -> list[str]:
    """What the experiment reads that is not there: each missing data file, as
    ``<experiment>: data.files[i]: <path> does not exist``. Loading does not check this
    (a job may mount its data later); ``nerp config validate`` does."""
    label = _label(default_experiment_path() if experiment is None else Path(experiment))
    problems = []
    if cfg.data.source == "files":
        for index, file in enumerate(cfg.data.files):
            if not file.exists():
                problems.append(f"{label}: data.files[{index}]: {file} does not exist")
    return problems


def dump_config(cfg: BaseModel) -> str:
    """YAML of a resolved config (an experiment or any section); loads back to the same."""
    return dump_yaml(cfg.model_dump(mode="json"))
