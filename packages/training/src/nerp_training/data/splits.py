"""Deterministic, stratified train/validation/test splits and k-fold CV folds.

Resumes differ most in which entity types they contain (some have no EMAIL, few have
EXPERIENCE), so documents are stratified by the set of their entity types: every split
and every fold then sees each kind of resume in proportion. A stratum with fewer
documents than there are splits (or folds) cannot be spread; such strata are pooled
into one "rare" stratum, and the fallback is logged (logger ``nerp_training.data``) and
recorded on the result.

Results depend only on the documents' ids, entity types and the seed, never on input
order, so the same data gives the same split on every machine. Folds are saved with a
fingerprint of their ids, which HPO checks when it reloads them, so "fold 3" always
means the same documents.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerp_infra.documents import Document
from nerp_infra.files import atomic_write
from nerp_infra.fingerprints import fingerprint
from nerp_training.data.records import DataError

__all__ = [
    "FOLDS_FORMAT",
    "DatasetSplits",
    "Fold",
    "folds_fingerprint",
    "kfold_documents",
    "load_folds",
    "save_folds",
    "split_documents",
    "stratum_of",
]

logger = logging.getLogger("nerp_training.data")

FOLDS_FORMAT = 1
_RARE = "(rare types pooled)"


def stratum_of(doc: Document) -> str:
    """The stratum key of a document: its sorted entity types, ``"-"`` when it has none."""
    types = sorted({span.label for span in doc.spans})
    return "+".join(types) if types else "-"


@dataclass
class DatasetSplits:
    """Documents per split, plus which strata had to be pooled (empty when none)."""

    train: list[Document]
    validation: list[Document]
    test: list[Document]
    pooled_strata: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[Document]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


@dataclass(frozen=True)
class Fold:
    """One CV fold: the document ids to train on and the ids to validate on."""

    index: int
    train_ids: tuple[str, ...]
    validation_ids: tuple[str, ...]

    def select(self, docs: Iterable[Document]) -> tuple[list[Document], list[Document]]:
        """This fold's (train, validation) documents, in the order of ``docs``."""
        by_id = {doc.id: doc for doc in docs}
        missing = [i for i in (*self.train_ids, *self.validation_ids) if i not in by_id]
        if missing:
            raise DataError(
                f"fold {self.index} names {len(missing)} document id(s) not in the given "
                f"documents, e.g. {missing[0]!r}; the folds were made for other data"
            )
        return [by_id[i] for i in self.train_ids], [by_id[i] for i in self.validation_ids]


def _strata(docs: Sequence[Document], seed: int, minimum: int) -> tuple[list[list[str]], list[str]]:
    """Shuffled id lists per stratum (sorted by key), small strata pooled at the end."""
    groups: dict[str, list[str]] = {}
    for doc in docs:
        groups.setdefault(stratum_of(doc), []).append(doc.id)
    small = sorted(key for key, ids in groups.items() if len(ids) < minimum)
    if len(small) > 0 and len(groups) > 1:
        pooled = [i for key in small for i in groups.pop(key)]
        shown = ", ".join(small[:5]) + (f", … {len(small) - 5} more" if len(small) > 5 else "")
        logger.warning(
            "stratification fallback: %d stratum/strata with fewer than %d documents "
            "pooled into one (%s)",
            len(small),
            minimum,
            shown,
        )
        groups[_RARE] = pooled
    else:
        small = []
    rng = random.Random(seed)
    ordered = []
    for key in sorted(groups):
        ids = sorted(groups[key])
        rng.shuffle(ids)
        ordered.append(ids)
    return ordered, small


def _largest_remainder(total: int, fractions: Sequence[float]) -> list[int]:
    raw = [total * f for f in fractions]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _check_unique(docs: Sequence[Document]) -> None:
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise DataError(f"duplicate document id {doc.id!r}; splits are keyed by id")
        seen.add(doc.id)


def split_documents(
    docs: Sequence[Document],
    *,
    train: float = 0.7,
    validation: float = 0.15,
    test: float = 0.15,
    seed: int = 42,
) -> DatasetSplits:
    """Split documents into train/validation/test, stratified by entity-type set.

    Split sizes follow the fractions over the whole set (largest remainder), and each
    stratum is spread as evenly as those sizes allow. Documents keep their input order
    inside each split.
    """
    fractions = [train, validation, test]
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6 or train <= 0:
        raise ValueError(
            f"split fractions must be non-negative, train > 0, and sum to 1; got train "
            f"{train}, validation {validation}, test {test}"
        )
    _check_unique(docs)
    active = sum(1 for f in fractions if f > 0)
    strata, pooled = _strata(docs, seed, active)
    targets = _largest_remainder(len(docs), fractions)
    # Per stratum: floors of the ideal counts, then the leftover places go to the
    # largest remainders while the split still has room (controlled rounding).
    alloc = []
    for ids in strata:
        alloc.append([int(len(ids) * f) for f in fractions])
    room = [t - sum(a[j] for a in alloc) for j, t in enumerate(targets)]
    candidates = []
    for s, ids in enumerate(strata):
        for j, f in enumerate(fractions):
            remainder = len(ids) * f - alloc[s][j]
            if f > 0:
                candidates.append((-remainder, s, j))
    candidates.sort()
    left = [len(ids) - sum(alloc[s]) for s, ids in enumerate(strata)]
    for _, s, j in candidates:
        if left[s] > 0 and room[j] > 0:
            alloc[s][j] += 1
            left[s] -= 1
            room[j] -= 1
    for s in range(len(strata)):  # anything rounding could not place goes where room is
        while left[s] > 0:
            j = max(range(3), key=lambda k: (room[k], fractions[k]))
            alloc[s][j] += 1
            left[s] -= 1
            room[j] -= 1
    assignment: dict[str, int] = {}
    for s, ids in enumerate(strata):
        position = 0
        for j in range(3):
            for doc_id in ids[position : position + alloc[s][j]]:
                assignment[doc_id] = j
            position += alloc[s][j]
    parts: list[list[Document]] = [[], [], []]
    for doc in docs:
        parts[assignment[doc.id]].append(doc)
    return DatasetSplits(parts[0], parts[1], parts[2], pooled_strata=pooled)


def kfold_documents(docs: Sequence[Document], k: int, seed: int = 42) -> list[Fold]:
    """``k`` stratified folds: each document validates in exactly one fold.

    Documents are dealt round-robin over the folds stratum by stratum (continuing the
    rotation across strata), so fold sizes differ by at most one and each stratum is
    spread evenly. Ids inside a fold are sorted.
    """
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    if len(docs) < k:
        raise DataError(f"cannot make {k} folds from {len(docs)} document(s)")
    _check_unique(docs)
    strata, _ = _strata(docs, seed, k)
    buckets: list[list[str]] = [[] for _ in range(k)]
    position = 0
    for ids in strata:
        for doc_id in ids:
            buckets[position % k].append(doc_id)
            position += 1
    all_ids = sorted(doc.id for doc in docs)
    folds = []
    for index, bucket in enumerate(buckets):
        held = set(bucket)
        folds.append(
            Fold(
                index=index,
                train_ids=tuple(i for i in all_ids if i not in held),
                validation_ids=tuple(sorted(bucket)),
            )
        )
    return folds


def folds_fingerprint(folds: Sequence[Fold]) -> str:
    """sha256 over the folds' id lists, so reloaded folds can prove they are the same."""
    return fingerprint(
        {
            "fp": "folds",
            "format": FOLDS_FORMAT,
            "folds": [
                {"index": f.index, "train": list(f.train_ids), "validation": list(f.validation_ids)}
                for f in folds
            ],
        }
    )


def save_folds(
    path: str | os.PathLike[str], folds: Sequence[Fold], *, meta: dict[str, Any] | None = None
) -> Path:
    """Write folds as JSON (ids per fold plus their fingerprint); returns the path."""
    path = Path(path)
    payload = {
        "format": FOLDS_FORMAT,
        "k": len(folds),
        "fingerprint": folds_fingerprint(folds),
        "meta": meta or {},
        "folds": [
            {
                "index": f.index,
                "train_ids": list(f.train_ids),
                "validation_ids": list(f.validation_ids),
            }
            for f in folds
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(payload, indent=1) + "\n")


def load_folds(path: str | os.PathLike[str]) -> list[Fold]:
    """Read folds written by :func:`save_folds`, checking their shape and fingerprint."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no such folds file", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("folds"), list):
        raise DataError("not a folds file: expected an object with a 'folds' list", path=path)
    if payload.get("format") != FOLDS_FORMAT:
        raise DataError(
            f"folds format {payload.get('format')!r} is not {FOLDS_FORMAT}",
            path=path,
            field="format",
        )
    folds = []
    for i, item in enumerate(payload["folds"]):
        where = f"folds[{i}]"
        if not isinstance(item, dict):
            raise DataError("must be an object", path=path, field=where)
        for key in ("train_ids", "validation_ids"):
            ids = item.get(key)
            if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
                raise DataError("must be a list of document ids", path=path, field=f"{where}.{key}")
        if item.get("index") != i:
            raise DataError(
                f"expected index {i}, got {item.get('index')!r}", path=path, field=f"{where}.index"
            )
        folds.append(Fold(i, tuple(item["train_ids"]), tuple(item["validation_ids"])))
    stated = payload.get("fingerprint")
    actual = folds_fingerprint(folds)
    if stated != actual:
        raise DataError(
            f"fingerprint {str(stated)[:12]}… does not match the ids ({actual[:12]}…); the "
            "file was edited or damaged",
            path=path,
            field="fingerprint",
        )
    everyone = {i for f in folds for i in f.validation_ids}
    for fold in folds:
        overlap = set(fold.train_ids) & set(fold.validation_ids)
        if overlap or set(fold.train_ids) | set(fold.validation_ids) != everyone:
            raise DataError(
                "train and validation ids do not partition the documents",
                path=path,
                field=f"folds[{fold.index}]",
            )
    return folds
