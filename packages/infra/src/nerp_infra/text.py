"""Text that can be encoded: the one check every entry point runs on user text.

Python strings may hold lone surrogates (``"\\ud800"`` in JSON, undecodable bytes in a
command line), which no UTF-8 encoder, tokenizer or JSON writer accepts. Rejecting them
where text enters (HTTP bodies, CLI arguments, document files) turns a crash deep inside
a tokenizer into an error that names the field and the character.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["find_unencodable", "unencodable_reason"]


def unencodable_reason(text: str) -> str | None:
    """Why ``text`` cannot be encoded as UTF-8, or ``None`` when it can."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"holds a lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start}; "
            "text must be valid Unicode (encodable as UTF-8)"
        )
    return None


def find_unencodable(value: object, field: str = "") -> tuple[str, str] | None:
    """The first string inside a decoded JSON value that cannot be encoded as UTF-8.

    Returns ``(field, reason)`` with the field as a path (``text``, ``spans[2].label``;
    ``field`` itself for a bare string), or ``None`` when every string is encodable.
    """
    if isinstance(value, str):
        reason = unencodable_reason(value)
        return None if reason is None else (field, reason)
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            if isinstance(key, str) and (reason := unencodable_reason(key)) is not None:
                return (field or "(key)", f"a key {reason}")
            found = find_unencodable(item, name)
            if found is not None:
                return found
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for index, item in enumerate(value):
            found = find_unencodable(item, f"{field}[{index}]")
            if found is not None:
                return found
    return None
