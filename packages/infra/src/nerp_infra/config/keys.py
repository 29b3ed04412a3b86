"""Walk the config models by key path, to name keys the way users write them.

Errors and ``--set`` need the same knowledge of the schema: which keys exist at a path
(for did-you-mean), where a discriminated union sits (pydantic puts the tag, e.g.
``loguniform``, into error locations although it is no key), and which fields hold
file-relative paths.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from nerp_infra.config.base import FileRelative

__all__ = ["file_relative_keys", "keys_at", "walk"]

KeyPath = tuple[str | int, ...]


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` to the type that holds the keys."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tagged_members(annotation: Any) -> dict[str, type[BaseModel]]:
    """Tag -> member model of a union discriminated by a ``type`` literal."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return {}
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        if _is_model(member) and "type" in member.model_fields:
            for tag in get_args(member.model_fields["type"].annotation):
                members[tag] = member
    return members


def walk(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[KeyPath, Any]:
    """Follow ``loc`` from ``root``; returns the user-facing key path and the type reached.

    Discriminator tags in ``loc`` are dropped from the key path; the type reached is
    ``None`` once the path leaves the schema (an unknown key).
    """
    annotation: Any = root
    path: list[str | int] = []
    for part in loc:
        annotation = _unwrap(annotation)
        tagged = _tagged_members(annotation)
        if tagged and part in tagged:
            annotation = tagged[str(part)]
            continue
        path.append(part)
        if _is_model(annotation):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            annotation = field.annotation if field is not None else None
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        else:
            annotation = None
    return tuple(path), _unwrap(annotation)


def keys_at(annotation: Any) -> list[str]:
    """Keys allowed in a mapping of type ``annotation`` (all members' for a union)."""
    annotation = _unwrap(annotation)
    if _is_model(annotation):
        return list(annotation.model_fields)
    keys: list[str] = []
    for member in _tagged_members(annotation).values():
        keys.extend(name for name in member.model_fields if name not in keys)
    return keys


def file_relative_keys(
    root: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Key paths of fields marked :class:`FileRelative`, through nested models."""
    for name, field in root.model_fields.items():
        if any(isinstance(item, FileRelative) for item in field.metadata):
            yield (*prefix, name)
        inner = _unwrap(field.annotation)
        if _is_model(inner):
            yield from file_relative_keys(inner, (*prefix, name))
