"""YAML reading with the two fixes configs need, and errors that name the file and line.

PyYAML follows YAML 1.1, which reads ``1e-4`` as a *string*; configs are full of such
learning rates, so floats use the YAML 1.2 rule. Duplicate keys are errors instead of the
later one silently winning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from nerp_infra.config.errors import ConfigError

__all__ = ["dump_yaml", "parse_yaml", "read_yaml_mapping"]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and duplicate-key detection."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)
        |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


def _describe(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


def parse_yaml(text: str) -> Any:
    """Parse one YAML value (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader


def read_yaml_mapping(path: Path, label: str) -> dict[str, Any]:
    """The mapping at the top of ``path``; an empty file is an empty mapping.

    ``label`` is how errors name the file (as the user wrote it).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(label, "", "file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(label, "", f"cannot read file: {exc}") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(label, "", _describe(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            label, "", f"expected a mapping of keys at the top, got {type(data).__name__}"
        )
    bad = [key for key in data if not isinstance(key, str)]
    if bad:
        raise ConfigError(label, str(bad[0]), "keys must be strings")
    return data


def dump_yaml(data: Any) -> str:
    """Block-style YAML that keeps key order (so dumps read like the config files)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
