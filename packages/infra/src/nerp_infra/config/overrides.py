"""``--set key.path=value`` overrides: parsing and applying them to a raw config tree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_origin

import yaml
from pydantic import BaseModel

from nerp_infra.config.errors import ConfigError, did_you_mean
from nerp_infra.config.keys import keys_at, walk
from nerp_infra.config.yamlio import parse_yaml

__all__ = ["Override", "apply_override", "parse_overrides"]

_PART = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Override:
    """One ``--set``: the key path, the value parsed with YAML rules, and the flag text."""

    path: tuple[str, ...]
    value: Any
    text: str

    @property
    def label(self) -> str:
        """How errors name where the value came from."""
        return f"--set {self.text}"

    @property
    def key(self) -> str:
        return ".".join(self.path)


def parse_overrides(values: Sequence[str] | None) -> list[Override]:
    """Parse ``KEY.PATH=VALUE`` strings; the value follows YAML (``2`` is an int,
    ``[1, 8]`` a list, ``null`` None); the config models then coerce and validate it.
    """
    parsed: list[Override] = []
    for text in values or ():
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {text}", key, "expected KEY.PATH=VALUE, e.g. --set train.epochs=2"
            )
        path = tuple(key.split("."))
        bad = next((part for part in path if not _PART.fullmatch(part)), None)
        if bad is not None:
            raise ConfigError(
                f"--set {text}", key, f"key part {bad!r} must be a non-empty name such as epochs"
            )
        try:
            value = parse_yaml(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"--set {text}", key, f"value {raw!r} is not valid YAML: {exc}"
            ) from None
        parsed.append(Override(path=path, value=value, text=text))
    return parsed


def _check_path(root: type[BaseModel], override: Override) -> None:
    """Reject a key path the schema does not have, before it reaches a config tree."""
    for depth in range(1, len(override.path) + 1):
        parent, annotation = walk(root, override.path[: depth - 1])
        part = override.path[depth - 1]
        allowed = keys_at(annotation)
        if allowed:
            if part not in allowed:
                where = ".".join(str(p) for p in parent) or "the experiment"
                raise ConfigError(
                    override.label,
                    override.key,
                    f"{where} has no key {part!r}{did_you_mean(part, allowed)}",
                )
        elif get_origin(annotation) is not dict and annotation is not Any:
            where = ".".join(str(p) for p in parent)
            example = "[...]" if get_origin(annotation) is list else "..."
            raise ConfigError(
                override.label,
                override.key,
                f"{where} is not a mapping; set it as a whole, e.g. --set {where}={example}",
            )


def apply_override(
    tree: dict[str, Any], override: Override, root: type[BaseModel]
) -> tuple[str, ...]:
    """Set ``override`` in ``tree`` (a raw config mapping shaped like ``root``), in place.

    Returns the key path of what the override brought in: the first mapping it had to
    create, else its own path, so errors about that part can name the flag.
    """
    _check_path(root, override)
    node = tree
    created: tuple[str, ...] | None = None
    for depth, part in enumerate(override.path[:-1], start=1):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
            created = created or override.path[:depth]
        elif not isinstance(child, dict):
            where = ".".join(override.path[:depth])
            raise ConfigError(
                override.label,
                override.key,
                f"{where} holds {type(child).__name__} {child!r}, not a mapping",
            )
        node = child
    node[override.path[-1]] = override.value
    return created or override.path
