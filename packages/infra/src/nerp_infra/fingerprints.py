"""Fingerprints: sha256 over canonical JSON, so run modes can decide reuse from content.

Two configs that mean the same thing must hash the same (key order, ``1e-3`` vs
``0.001``, a float that lost its last bit in YAML round trips, a tuple vs a list), and
two that differ in anything that changes the result must not. Each fingerprint kind
hashes a small document tagged with its kind and a format version, so a data_fp can
never collide with a spec_fp of the same payload, and changing what goes into one kind
later is a visible version bump rather than a silent change of meaning.

Versions of heavy libraries are read from installed metadata, never by importing them.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel

from nerp_infra.plugins import installed_nerp_distributions, installed_version

__all__ = [
    "FINGERPRINT_FORMAT",
    "TRACKED_LIBRARIES",
    "bench_fp",
    "canonical_json",
    "conv_fp",
    "data_fp",
    "exec_fp",
    "file_sha256",
    "fingerprint",
    "runtime_versions",
    "short",
    "spec_fp",
]

FINGERPRINT_FORMAT = 1
"""Bumped when what goes into a fingerprint kind changes; part of every hashed document."""

TRACKED_LIBRARIES: tuple[str, ...] = ("torch", "transformers")
"""Libraries whose versions change numerics and so belong in exec_fp (besides nerp-*)."""

_FLOAT_DIGITS = 12
_HEX = re.compile(r"^[0-9a-f]+$")


def _normalise_float(value: float, where: str) -> float:
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"cannot fingerprint {where}: non-finite float {value!r}")
    rounded = float(f"{value:.{_FLOAT_DIGITS}g}")
    return 0.0 if rounded == 0 else rounded  # folds -0.0 into 0.0


def _normalise(obj: Any, where: str) -> Any:
    """Turn ``obj`` into plain JSON types, with a readable location for bad values."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, enum.Enum):
        return _normalise(obj.value, where)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return _normalise_float(obj, where)
    if isinstance(obj, PurePath):
        return obj.as_posix()
    if isinstance(obj, BaseModel):
        return _normalise(obj.model_dump(mode="json"), where)
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(
                    f"cannot fingerprint {where}: mapping key {key!r} is a "
                    f"{type(key).__name__}, expected str or int"
                )
            name = str(key)
            if name in out:
                raise ValueError(f"cannot fingerprint {where}: key {name!r} appears twice")
            out[name] = _normalise(value, f"{where}.{name}")
        return out
    if isinstance(obj, set | frozenset):
        items = [_normalise(v, f"{where}[]") for v in obj]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, Sequence) and not isinstance(obj, bytes | bytearray):
        return [_normalise(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(
        f"cannot fingerprint {where}: unsupported type {type(obj).__name__} ({obj!r:.80})"
    )


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` so that equal meaning gives equal text.

    Keys are sorted, there is no whitespace, floats keep 12 significant digits, paths
    become POSIX strings, tuples and lists are the same, sets are sorted, pydantic models
    are dumped in JSON mode and enums become their values. NaN and infinities are
    rejected: they compare unequal to themselves and would make a fingerprint lie.
    """
    return json.dumps(
        _normalise(obj, "$"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def fingerprint(obj: Any) -> str:
    """sha256 hex digest of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def short(fp: str, n: int = 8) -> str:
    """The first ``n`` hex digits, for directory keys and run names."""
    if n < 1:
        raise ValueError(f"short fingerprint length must be at least 1, got {n}")
    if not fp or not _HEX.match(fp):
        raise ValueError(f"not a hex fingerprint: {fp!r}")
    return fp[:n]


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Content hash of one file, read in chunks so large datasets stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _expand_files(files: Iterable[Path | str]) -> list[Path]:
    found: set[Path] = set()
    for item in files:
        path = Path(item)
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"data file {path} does not exist (needed for data_fp)")
    if not found:
        raise ValueError("data_fp needs at least one data file; none were given")
    return sorted(p.absolute() for p in found)


def data_fp(
    files: Iterable[Path | str],
    label_map: Mapping[Any, Any],
    *,
    root: Path | str | None = None,
) -> str:
    """Fingerprint a dataset: its files' contents and names, and its label map.

    Names count (swapping train.jsonl and test.jsonl makes another dataset), but only
    relative to ``root`` (default: the files' common folder), so the same data in
    another checkout or on another machine gets the same fingerprint. Directories are
    expanded to the files under them.
    """
    paths = _expand_files(files)
    base = Path(root).absolute() if root is not None else Path(os.path.commonpath(paths))
    if base in paths:  # a single file: its common path is the file itself
        base = base.parent
    entries = []
    for path in paths:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            raise ValueError(f"data file {path} is not under the data_fp root {base}") from None
        entries.append([rel, file_sha256(path)])
    entries.sort()
    return fingerprint(
        {"fp": "data", "format": FINGERPRINT_FORMAT, "files": entries, "labels": label_map}
    )


def spec_fp(
    *,
    data_fp: str,
    backbone: str,
    model: Mapping[str, Any],
    train: Mapping[str, Any],
    seed: int,
) -> str:
    """Fingerprint what is trained: data, backbone, every hyper-parameter and the seed."""
    return fingerprint(
        {
            "fp": "spec",
            "format": FINGERPRINT_FORMAT,
            "data_fp": data_fp,
            "backbone": backbone,
            "model": model,
            "train": train,
            "seed": seed,
        }
    )


def runtime_versions(extra_versions: Mapping[str, str] | None = None) -> dict[str, str]:
    """Versions that shape numerics: every installed nerp-* distribution plus torch and
    transformers (``"absent"`` when not installed), read from metadata without importing.
    """
    found = dict(installed_nerp_distributions())
    found.update({name: installed_version(name) or "absent" for name in TRACKED_LIBRARIES})
    if extra_versions:
        found.update({str(k): str(v) for k, v in extra_versions.items()})
    return dict(sorted(found.items()))


def exec_fp(
    *,
    precision: str,
    device_type: str,
    extra_versions: Mapping[str, str] | None = None,
) -> str:
    """Fingerprint how something is run: library versions, precision and device type.

    ``extra_versions`` adds or overrides entries (e.g. a CUDA version, or pinned values
    in tests).
    """
    return fingerprint(
        {
            "fp": "exec",
            "format": FINGERPRINT_FORMAT,
            "precision": precision,
            "device_type": device_type,
            "versions": runtime_versions(extra_versions),
        }
    )


def conv_fp(*, model_artifact_id: str, settings: Mapping[str, Any]) -> str:
    """Fingerprint a conversion: which model artifact, with which conversion settings."""
    return fingerprint(
        {
            "fp": "conv",
            "format": FINGERPRINT_FORMAT,
            "model_artifact_id": model_artifact_id,
            "settings": settings,
        }
    )


def bench_fp(*, artifact_ids: Iterable[str], settings: Mapping[str, Any]) -> str:
    """Fingerprint a benchmark: the set of artifacts compared (order does not matter) and
    the benchmark settings.
    """
    return fingerprint(
        {
            "fp": "bench",
            "format": FINGERPRINT_FORMAT,
            "artifact_ids": sorted(set(artifact_ids)),
            "settings": settings,
        }
    )
