"""Splits and folds: deterministic, stratified by entity-type set, reloadable."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from pathlib import Path

import pytest

from nerp_infra.documents import Document, Span
from nerp_training.data import (
    DataError,
    kfold_documents,
    load_folds,
    save_folds,
    split_documents,
    stratum_of,
)


def make_docs(**strata: int) -> list[Document]:
    """``make_docs(A=60, A_B=40)``: documents whose entity types are the key's parts."""
    docs = []
    for key, count in strata.items():
        labels = key.split("_") if key != "none" else []
        for i in range(count):
            spans = [Span(start=j, end=j + 1, label=lab) for j, lab in enumerate(labels)]
            docs.append(Document(id=f"{key}-{i:03d}", text="abcdef", spans=spans))
    return docs


def ids(docs: list[Document]) -> list[str]:
    return [d.id for d in docs]


def strata_counts(docs: list[Document]) -> Counter[str]:
    return Counter(stratum_of(d) for d in docs)


def test_stratum_key() -> None:
    (doc,) = make_docs(B_A=1)
    assert stratum_of(doc) == "A+B"
    assert stratum_of(make_docs(none=1)[0]) == "-"


def test_split_sizes_and_stratification_are_exact() -> None:
    docs = make_docs(A=60, A_B=40)
    parts = split_documents(docs, train=0.5, validation=0.25, test=0.25, seed=1)
    assert strata_counts(parts.train) == {"A": 30, "A+B": 20}
    assert strata_counts(parts.validation) == {"A": 15, "A+B": 10}
    assert strata_counts(parts.test) == {"A": 15, "A+B": 10}
    assert sorted(ids(parts.train + parts.validation + parts.test)) == sorted(ids(docs))
    assert parts.pooled_strata == []


def test_split_sizes_follow_the_fractions_overall() -> None:
    docs = make_docs(A=37, B=29, A_B=21, none=13)
    parts = split_documents(docs, train=0.7, validation=0.15, test=0.15, seed=3)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (70, 15, 15)
    for stratum, total in strata_counts(docs).items():
        in_train = strata_counts(parts.train)[stratum]
        assert abs(in_train - 0.7 * total) <= 1, stratum


def test_split_is_deterministic_and_independent_of_input_order() -> None:
    docs = make_docs(A=30, A_B=20)
    first = split_documents(docs, seed=7)
    shuffled = list(docs)
    random.Random(0).shuffle(shuffled)
    again = split_documents(shuffled, seed=7)
    for name in ("train", "validation", "test"):
        assert sorted(ids(getattr(first, name))) == sorted(ids(getattr(again, name)))
    other = split_documents(docs, seed=8)
    assert sorted(ids(other.test)) != sorted(ids(first.test))


def test_documents_keep_their_input_order_inside_a_split() -> None:
    docs = make_docs(A=20)
    parts = split_documents(docs, seed=2)
    assert ids(parts.train) == sorted(ids(parts.train))


def test_small_strata_are_pooled_and_the_fallback_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    docs = make_docs(A=40, B=2, C=1)
    with caplog.at_level(logging.WARNING, logger="nerp_training.data"):
        parts = split_documents(docs, train=0.6, validation=0.2, test=0.2, seed=0)
    assert parts.pooled_strata == ["B", "C"]
    (record,) = caplog.records
    assert record.name == "nerp_training.data"
    assert "stratification fallback" in record.getMessage()
    assert "B, C" in record.getMessage()
    assert strata_counts(parts.train)["A"] == 24


def test_a_zero_fraction_split_is_empty_and_needs_no_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    docs = make_docs(A=10, B=2)
    with caplog.at_level(logging.WARNING, logger="nerp_training.data"):
        parts = split_documents(docs, train=0.8, validation=0.2, test=0.0, seed=0)
    assert parts.test == []
    assert strata_counts(parts.train) == {"A": 8, "B": 2}
    assert strata_counts(parts.validation) == {"A": 2}
    assert caplog.records == []


def test_bad_fractions_and_duplicate_ids_are_errors() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        split_documents(make_docs(A=5), train=0.5, validation=0.1, test=0.1)
    docs = make_docs(A=3)
    with pytest.raises(DataError, match="duplicate document id 'A-000'"):
        split_documents([*docs, docs[0]])


def test_kfold_partitions_and_stratifies() -> None:
    docs = make_docs(A=60, A_B=40)
    folds = kfold_documents(docs, 5, seed=3)
    everyone = set(ids(docs))
    seen: list[str] = []
    by_id = {d.id: d for d in docs}
    for index, fold in enumerate(folds):
        assert fold.index == index
        assert set(fold.train_ids) | set(fold.validation_ids) == everyone
        assert not set(fold.train_ids) & set(fold.validation_ids)
        assert strata_counts([by_id[i] for i in fold.validation_ids]) == {"A": 12, "A+B": 8}
        seen.extend(fold.validation_ids)
    assert sorted(seen) == sorted(everyone)


def test_kfold_is_deterministic_order_independent_and_balanced() -> None:
    docs = make_docs(A=23, B=11, A_B=9)
    folds = kfold_documents(docs, 4, seed=5)
    assert kfold_documents(list(reversed(docs)), 4, seed=5) == folds
    assert kfold_documents(docs, 4, seed=6) != folds
    sizes = [len(f.validation_ids) for f in folds]
    assert max(sizes) - min(sizes) <= 1


def test_kfold_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError, match="k >= 2"):
        kfold_documents(make_docs(A=5), 1)
    with pytest.raises(DataError, match="cannot make 5 folds from 3"):
        kfold_documents(make_docs(A=3), 5)


def test_folds_save_and_reload(tmp_path: Path) -> None:
    docs = make_docs(A=12, B=8)
    folds = kfold_documents(docs, 3, seed=1)
    path = save_folds(tmp_path / "cv" / "folds.json", folds, meta={"seed": 1})
    assert load_folds(path) == folds
    payload = json.loads(path.read_text())
    assert payload["k"] == 3
    assert payload["meta"] == {"seed": 1}
    train, validation = folds[0].select(docs)
    assert ids(validation) == list(folds[0].validation_ids)
    assert len(train) + len(validation) == len(docs)


def test_edited_folds_are_refused(tmp_path: Path) -> None:
    folds = kfold_documents(make_docs(A=9), 3, seed=1)
    path = save_folds(tmp_path / "folds.json", folds)
    payload = json.loads(path.read_text())
    moved = payload["folds"][0]["validation_ids"].pop()
    payload["folds"][0]["train_ids"].append(moved)
    path.write_text(json.dumps(payload))
    with pytest.raises(DataError, match=r"folds\.json: fingerprint: fingerprint .* does not match"):
        load_folds(path)
    with pytest.raises(DataError, match="no such folds file"):
        load_folds(tmp_path / "missing.json")


def test_fold_select_refuses_other_documents() -> None:
    (fold, *_) = kfold_documents(make_docs(A=4), 2, seed=0)
    with pytest.raises(DataError, match="not in the given documents"):
        fold.select(make_docs(B=4))
