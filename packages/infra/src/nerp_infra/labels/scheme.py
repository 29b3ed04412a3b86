"""The BIO label set of a model: which ids mean which tags.

The label map is saved with the dataset and the model and is part of the data
fingerprint, so its dictionary form is canonical (same scheme, same JSON).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["IGNORE_INDEX", "OUTSIDE", "LabelScheme", "split_tag"]

OUTSIDE = "O"
IGNORE_INDEX = -100
"""Label id for tokens the loss ignores (special tokens, non-first sub-tokens); torch's default."""

_PREFIXES = ("B", "I")


@lru_cache(maxsize=4096)  # a scheme has a few dozen tags; decoding splits one per token
def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-NAME"`` -> ``("B", "NAME")``, ``"O"`` -> ``("O", None)``; anything else is an error."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, entity_type = tag.partition("-")
    if sep and prefix in _PREFIXES and entity_type:
        return prefix, entity_type
    raise ValueError(f"invalid BIO tag {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")


def _check_entity_type(entity_type: object) -> str:
    if not isinstance(entity_type, str) or not entity_type:
        raise ValueError(f"invalid entity type {entity_type!r}: must be a non-empty string")
    if entity_type != entity_type.strip() or any(not c.isprintable() for c in entity_type):
        raise ValueError(
            f"invalid entity type {entity_type!r}: no leading/trailing whitespace or "
            "control characters"
        )
    return entity_type


class LabelScheme:
    """BIO labels for an ordered list of entity types.

    ``LabelScheme(["NAME", "EMAIL"])`` gives ``O, B-NAME, I-NAME, B-EMAIL, I-EMAIL`` with ids
    in that order. A model trained elsewhere may order its labels differently;
    ``from_labels`` keeps any valid order, since the ids are baked into the model's head.
    """

    __slots__ = ("_entity_types", "_label2id", "_labels")

    def __init__(self, entity_types: Sequence[str]) -> None:
        if isinstance(entity_types, str):
            raise TypeError("entity_types must be a sequence of names, not one string")
        types = [_check_entity_type(t) for t in entity_types]
        duplicates = sorted({t for t in types if types.count(t) > 1})
        if duplicates:
            raise ValueError(f"duplicate entity type(s): {', '.join(duplicates)}")
        labels = [OUTSIDE]
        for entity_type in types:
            labels += [f"B-{entity_type}", f"I-{entity_type}"]
        self._entity_types = tuple(types)
        self._labels = tuple(labels)
        self._label2id = {label: i for i, label in enumerate(labels)}

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> LabelScheme:
        """Rebuild a scheme from a model's label list (``id2label`` order), keeping its ids."""
        if isinstance(labels, str):
            raise TypeError("labels must be a sequence of tags, not one string")
        labels = list(labels)
        duplicates = sorted({lab for lab in labels if labels.count(lab) > 1})
        if duplicates:
            raise ValueError(f"duplicate label(s): {', '.join(map(repr, duplicates))}")
        if OUTSIDE not in labels:
            raise ValueError(f"labels must include {OUTSIDE!r}")
        types: list[str] = []
        for label in labels:
            if not isinstance(label, str):
                raise ValueError(f"invalid label {label!r}: must be a string")
            _, entity_type = split_tag(label)
            if entity_type is not None and entity_type not in types:
                types.append(_check_entity_type(entity_type))
        for entity_type in types:
            for prefix in _PREFIXES:
                if f"{prefix}-{entity_type}" not in labels:
                    raise ValueError(
                        f"labels have a tag for {entity_type!r} but not '{prefix}-{entity_type}'"
                    )
        scheme = cls(types)
        scheme._labels = tuple(labels)
        scheme._label2id = {label: i for i, label in enumerate(labels)}
        return scheme

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelScheme:
        """Load the form written by ``to_dict`` (a saved label map)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"label map must be an object, got {type(data).__name__}")
        scheme_name = data.get("scheme", "BIO")
        if scheme_name != "BIO":
            raise ValueError(f"label map field 'scheme': unsupported scheme {scheme_name!r}")
        if "labels" not in data:
            raise ValueError("label map field 'labels' is required")
        labels = data["labels"]
        if not isinstance(labels, list):
            raise ValueError("label map field 'labels' must be a list of tags")
        try:
            scheme = cls.from_labels(labels)
        except ValueError as exc:
            raise ValueError(f"label map field 'labels': {exc}") from None
        if "entity_types" in data and list(data["entity_types"]) != list(scheme.entity_types):
            raise ValueError(
                f"label map field 'entity_types' {data['entity_types']!r} does not match the "
                f"types in 'labels' {list(scheme.entity_types)!r}"
            )
        return scheme

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": "BIO",
            "entity_types": list(self._entity_types),
            "labels": list(self._labels),
        }

    @property
    def entity_types(self) -> tuple[str, ...]:
        return self._entity_types

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def label2id(self) -> dict[str, int]:
        return dict(self._label2id)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self._labels))

    def tags_to_ids(
        self, tags: Sequence[str | None], *, ignore_index: int = IGNORE_INDEX
    ) -> list[int]:
        """Token tags to training label ids; ``None`` (not scored) becomes ``ignore_index``."""
        ids = []
        for position, tag in enumerate(tags):
            if tag is None:
                ids.append(ignore_index)
                continue
            try:
                ids.append(self._label2id[tag])
            except KeyError:
                raise ValueError(
                    f"tag {tag!r} at token {position} is not in the label scheme "
                    f"({', '.join(self._labels)})"
                ) from None
        return ids

    def ids_to_tags(self, ids: Sequence[int]) -> list[str]:
        tags = []
        for position, label_id in enumerate(ids):
            if not 0 <= label_id < len(self._labels):
                raise ValueError(
                    f"label id {label_id} at token {position} is outside 0..{len(self._labels) - 1}"
                )
            tags.append(self._labels[label_id])
        return tags

    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __contains__(self, tag: object) -> bool:
        return tag in self._label2id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelScheme) and self._labels == other._labels

    def __hash__(self) -> int:
        return hash(self._labels)

    def __repr__(self) -> str:
        return f"LabelScheme.from_labels({list(self._labels)!r})"
