"""Accuracy on real resumes: nerp's shipped recipe beside the peers a user would pick instead.

k-fold cross-validation on the shared DataTurks resumes, every system on the same folds,
scored by the same scorer, side by side in one run:

- ``nerp``: the ``model`` and ``train`` settings of ``examples/dataturks-minilm`` (or
  ``--recipe``), trained the way ``nerp train`` trains a final model (``train_model``,
  on the fold's training documents; with ``final_training.train_on_validation: false``
  a validation part is held out for early stopping), predicting through the engine's
  text pipeline (windows, max-context merge, BIO decoding) on the PyTorch checkpoint,
  which the ONNX fp32 package reproduces.
- ``spacy``: a blank English spaCy NER pipeline, ``spacy init config --pipeline ner
  --optimize efficiency`` and ``spacy train`` with its defaults (15 % of the fold's
  training documents as its dev set, which ``spacy train`` needs for ``model-best``).
- ``hf``: a plain Hugging Face recipe on the same MiniLM backbone: overlapping windows
  (``return_overflowing_tokens``, 256/64), labels on first sub-tokens by character
  overlap, ``Trainer`` with lr 3e-4 for 8 epochs (bf16 where the CPU has bf16 units, as
  nerp), inference with the token-classification pipeline (``aggregation_strategy="first"``,
  same stride).

The scorer: every document is cut into whitespace words; a word takes the type of the
span it overlaps (``B-`` on a span's first word, ``I-`` after), for the gold spans and for
each system's predicted character spans alike; seqeval strict IOB2 over whole documents
gives micro, macro and per-type F1. Systems never see the scorer's words, so none is
favoured by its own tokenisation.

Results are kept per (system, fold, settings) in ``--results`` (JSON), so an interrupted
run continues and a changed recipe re-trains only nerp. The peers install through the
``accuracy`` dependency group, never through the products::

    uv run --group accuracy python benchmarks/accuracy.py              # 3 folds, all systems
    uv run --group accuracy python benchmarks/accuracy.py --systems nerp --set train.epochs=6

Accuracy targets live here, never in tests. Heavy: run nothing else on a 2-core machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dataturks-resumes" / "resumes.jsonl"
DEFAULT_RECIPE = ROOT / "examples" / "dataturks-minilm" / "experiment.yaml"
SYSTEMS = ("nerp", "spacy", "hf")
DECODING_FIELDS = (
    "repeat_types",
    "merge_types",
    "join_types",
    "min_confidence",
    "section_types",
    "entity_filter",
)
"""``model`` fields applied after prediction: not part of a cached result's key."""
HF_RECIPE = {"learning_rate": 3e-4, "epochs": 8, "batch_size": 8, "max_length": 256, "stride": 64}

if "spacy" not in sys.modules and os.environ.get("NERP_ACCURACY_REEXEC") != "1":
    try:
        import spacy  # noqa: F401  (the peer comes from the benchmark's dependency group)
    except ImportError:
        # `uv run python benchmarks/accuracy.py` without the group: bring the group in once.
        os.environ["NERP_ACCURACY_REEXEC"] = "1"
        uv = shutil.which("uv")
        if uv is not None:
            os.execv(uv, [uv, "run", "--group", "accuracy", "python", __file__, *sys.argv[1:]])

from nerp_infra.documents import Document  # noqa: E402
from nerp_training.metrics import EntityMetrics, entity_metrics  # noqa: E402

Predicted = list[tuple[int, int, str]]


# --- the scorer ------------------------------------------------------------------------


def _word_bounds(text: str) -> tuple[list[int], list[int]]:
    """Start and end offsets of the whitespace words of ``text``: the scorer's units."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    return [a for a, _ in words], [b for _, b in words]


def _word_range(
    starts: Sequence[int], ends: Sequence[int], start: int, end: int
) -> tuple[int, int]:
    """The words ``[first, stop)`` a character span touches: the first word ending after it
    starts, up to the first word starting at or after its end."""
    return bisect_right(ends, start), bisect_left(starts, end)


def word_tags(text: str, spans: Sequence[tuple[int, int, str]]) -> list[str]:
    """IOB2 tags of the whitespace words of ``text`` for character ``spans``.

    A word belongs to the first span (by start) that overlaps it; a word already taken
    by an earlier span keeps it, so overlapping predictions cannot double-count.
    """
    starts, ends = _word_bounds(text)
    tags = ["O"] * len(starts)
    for start, end, label in sorted(spans):
        lo, hi = _word_range(starts, ends, start, end)
        opened = False
        for i in range(lo, hi):
            if tags[i] != "O":
                opened = False
                continue
            tags[i] = f"{'I' if opened else 'B'}-{label}"
            opened = True
    return tags


def score(docs: Sequence[Document], predictions: Sequence[Predicted]) -> EntityMetrics:
    gold = [word_tags(d.text, [(s.start, s.end, s.label) for s in d.spans]) for d in docs]
    guess = [word_tags(d.text, p) for d, p in zip(docs, predictions, strict=True)]
    return entity_metrics(gold, guess)


@dataclass(frozen=True)
class Decoding:
    """The recipe's decoding options but the floors (``model.join_types`` before them,
    ``model.repeat_types``, ``model.merge_types``, ``model.section_types`` after): they
    change no training, so the benchmark applies them to cached raw predictions."""

    repeat_types: Sequence[str] = ()
    merge_types: Sequence[str] = ()
    section_types: Mapping[str, Sequence[str]] = field(default_factory=dict)
    join_types: Sequence[str] = ()
    entity_filter: Any = None  # nerp_infra.labels.EntityFilter

    @classmethod
    def of(cls, recipe: Any) -> Decoding:
        model = recipe.model
        return cls(
            list(model.repeat_types),
            list(model.merge_types),
            dict(model.section_types),
            list(model.join_types),
            model.entity_filter,
        )

    def describe(self) -> list[str]:
        parts = [f"join_types ({', '.join(self.join_types)})"] if self.join_types else []
        parts += [f"repeat_types ({', '.join(self.repeat_types)})"] if self.repeat_types else []
        parts += [f"merge_types ({', '.join(self.merge_types)})"] if self.merge_types else []
        sections = ", ".join(f"{t} {list(h)}" for t, h in self.section_types.items())
        parts += [f"section_types ({sections})"] if sections else []
        if self.entity_filter is not None:
            parts += [f"entity_filter ({len(self.entity_filter.weights)} weights, "
                      f"threshold {self.entity_filter.threshold})"]  # fmt: skip
        return parts


def decoded(
    docs: Sequence[Document],
    predictions: Sequence[Predicted],
    decoding: Decoding,
    min_confidence: dict[str, float] | None = None,
    confidences: Sequence[Sequence[float]] | None = None,
) -> list[Predicted]:
    """nerp's cached raw predictions decoded with ``model.min_confidence`` (needs the cached
    ``confidences``) and ``decoding``, in the engine's order."""
    from nerp_infra.documents import Entity
    from nerp_infra.labels import (
        confident,
        join_fragments,
        merge_lists,
        propagate_repeats,
        section_entities,
    )

    if min_confidence and confidences is None:
        raise SystemExit("model.min_confidence needs cached confidences: rerun with --fresh")
    out: list[Predicted] = []
    for index, (doc, predicted) in enumerate(zip(docs, predictions, strict=True)):
        scores = confidences[index] if confidences is not None else [1.0] * len(predicted)
        entities = [
            Entity(text=doc.text[s:e], label=label, start=s, end=e, confidence=score)
            for (s, e, label), score in zip(predicted, scores, strict=True)
        ]
        entities = join_fragments(doc.text, entities, decoding.join_types)
        entities = confident(entities, min_confidence or {})
        if decoding.entity_filter is not None:
            entities = decoding.entity_filter.apply(doc.text, entities)
        entities = section_entities(doc.text, entities, decoding.section_types)
        entities = propagate_repeats(doc.text, entities, decoding.repeat_types)
        entities = merge_lists(doc.text, entities, decoding.merge_types)
        out.append([(e.start, e.end, e.label) for e in entities])
    return out


FLOOR_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def pooled_micro_f1(
    folds: Sequence[tuple[Sequence[Document], dict]],
    decoding: Decoding,
    floors: dict[str, float],
) -> float:
    """Micro F1 of nerp's cached raw predictions over several folds' documents pooled."""
    gold: list[list[str]] = []
    guess: list[list[str]] = []
    for test, row in folds:
        predicted = decoded(test, row["predictions"], decoding, floors, row["confidences"])
        gold += [word_tags(d.text, [(s.start, s.end, s.label) for s in d.spans]) for d in test]
        guess += [word_tags(d.text, p) for d, p in zip(test, predicted, strict=True)]
    return entity_metrics(gold, guess).f1_micro


def tune_floors(
    folds: Sequence[tuple[Sequence[Document], dict]],
    types: Sequence[str],
    decoding: Decoding,
) -> dict[str, float]:
    """``model.min_confidence`` by coordinate ascent over ``FLOOR_GRID``, type by type
    (two sweeps), maximising micro F1 on ``folds``; a type keeps no floor unless one helps."""
    floors: dict[str, float] = {}
    best = pooled_micro_f1(folds, decoding, floors)
    for _ in range(2):
        for label in types:
            for value in FLOOR_GRID:
                trial = {k: v for k, v in floors.items() if k != label}
                if value:
                    trial[label] = value
                f1 = pooled_micro_f1(folds, decoding, trial)
                if f1 > best + 1e-9:
                    best, floors = f1, trial
    return floors


def floors_report(
    folds: Sequence[Sequence[tuple[Sequence[Document], dict]]],
    types: Sequence[str],
    decoding: Decoding,
) -> str:
    """Floors tuned on every fold, and the honest figure: floors tuned on the other folds,
    scored on the held-out one, for each fold in turn. ``folds[i]`` holds fold ``i``'s
    runs (one per data order), scored together."""
    runs = [run for fold in folds for run in fold]
    chosen = tune_floors(runs, types, decoding)
    lines = [f"floors tuned on all {len(folds)} folds ({len(runs)} runs): {chosen}"]
    held_out = []
    for i, fold in enumerate(folds):
        others = [run for j, other in enumerate(folds) if j != i for run in other]
        floors = tune_floors(others, types, decoding)
        held_out.append(pooled_micro_f1(fold, decoding, floors))
        lines.append(f"  fold {i}: floors of the other folds {floors}: micro F1 {held_out[-1]:.3f}")
    lines.append(f"nested estimate (floors never tuned on the fold they score): micro F1 "
                 f"{_mean(held_out):.3f} ± {_sd(held_out):.3f}")  # fmt: skip
    return "\n".join(lines)


# --- a learned keep-or-drop rule (model.entity_filter) -----------------------------------


def filter_examples(
    runs: Sequence[tuple[Sequence[Document], dict]],
    decoding: Decoding,
    floors: dict[str, float],
) -> tuple[list[dict[str, float]], list[int]]:
    """Every entity the engine hands the filter (after ``join_types`` and the floors), its
    features, and whether it is exactly a gold entity (same words, same type)."""
    from nerp_infra.documents import Entity
    from nerp_infra.labels import confident, entity_features, join_fragments

    rows: list[dict[str, float]] = []
    correct: list[int] = []
    for test, row in runs:
        cached = zip(test, row["predictions"], row["confidences"], strict=True)
        for doc, predicted, scores in cached:
            starts, ends = _word_bounds(doc.text)
            gold = {(*_word_range(starts, ends, s.start, s.end), s.label) for s in doc.spans}
            entities = [
                Entity(text=doc.text[s:e], label=label, start=s, end=e, confidence=score)
                for (s, e, label), score in zip(predicted, scores, strict=True)
            ]
            entities = join_fragments(doc.text, entities, decoding.join_types)
            entities = confident(entities, floors)
            rows += entity_features(doc.text, entities)
            correct += [
                int((*_word_range(starts, ends, e.start, e.end), e.label) in gold) for e in entities
            ]
    return rows, correct


def fit_filter(
    runs: Sequence[tuple[Sequence[Document], dict]],
    types: Sequence[str],
    decoding: Decoding,
    floors: dict[str, float],
) -> Any:
    """``model.entity_filter`` fitted on cached out-of-fold predictions: scikit-learn's
    L2 logistic regression (C 0.1) on standardised features, folded back into weights of the
    raw features so that serving needs neither a scaler nor scikit-learn."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from nerp_infra.labels import ENTITY_FEATURES, EntityFilter

    names = [*ENTITY_FEATURES, *(f"type:{t}" for t in types), *(f"confidence:{t}" for t in types)]
    rows, correct = filter_examples(runs, decoding, floors)
    if len(set(correct)) < 2:
        raise SystemExit("--fit-filter: the cached entities are all right or all wrong")
    features = np.array([[row.get(name, 0.0) for name in names] for row in rows])
    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=0.1, max_iter=5000).fit(scaler.transform(features), correct)
    weights = model.coef_[0] / scaler.scale_
    bias = float(model.intercept_[0] - (weights * scaler.mean_).sum())
    return EntityFilter(
        weights={n: float(f"{w:.6g}") for n, w in zip(names, weights, strict=True) if w},
        bias=float(f"{bias:.6g}"),
    )


def filter_report(
    folds: Sequence[Sequence[tuple[Sequence[Document], dict]]],
    types: Sequence[str],
    decoding: Decoding,
    floors: dict[str, float],
) -> tuple[str, Any]:
    """The filter fitted on every fold, and the honest figure beside the floors': each fold
    scored with a filter (and with floors) fitted on the other folds only."""
    from dataclasses import replace

    plain = replace(decoding, entity_filter=None)
    runs = [run for fold in folds for run in fold]
    chosen = fit_filter(runs, types, plain, floors)
    lines = [f"entity_filter fitted on all {len(folds)} folds ({len(runs)} runs): "
             f"{len(chosen.weights)} weights"]  # fmt: skip
    by_filter, by_floors = [], []
    for i, fold in enumerate(folds):
        others = [run for j, other in enumerate(folds) if j != i for run in other]
        fitted = replace(plain, entity_filter=fit_filter(others, types, plain, floors))
        by_filter.append(pooled_micro_f1(fold, fitted, floors))
        by_floors.append(pooled_micro_f1(fold, plain, tune_floors(others, types, plain)))
        lines.append(f"  fold {i}: micro F1 {by_filter[-1]:.3f} with the filter of the other "
                     f"folds, {by_floors[-1]:.3f} with their floors")  # fmt: skip
    lines.append(f"nested estimate (fitted on the other folds): micro F1 "
                 f"{_mean(by_filter):.3f} ± {_sd(by_filter):.3f} with entity_filter, "
                 f"{_mean(by_floors):.3f} ± {_sd(by_floors):.3f} with min_confidence")  # fmt: skip
    return "\n".join(lines), chosen


# --- data and folds --------------------------------------------------------------------


def load_documents(data: Path, recipe: Any) -> list[Document]:
    from nerp_training.data.importers import import_documents

    result = import_documents(
        data,
        format=recipe.data.format,
        label_mapping=recipe.data.label_mapping,
        labels=recipe.data.labels,
        overlap_policy=recipe.data.overlap_policy,
    )
    return result.documents


def holdout(docs: Sequence[Document], fraction: float, seed: int) -> tuple[list, list]:
    """(train, dev): a seeded ``fraction`` of ``docs`` set aside for systems that need one."""
    ordered = sorted(docs, key=lambda d: d.id)
    dev_ids = {
        d.id for d in random.Random(seed).sample(ordered, max(1, round(len(docs) * fraction)))
    }
    return [d for d in ordered if d.id not in dev_ids], [d for d in ordered if d.id in dev_ids]


# --- systems ---------------------------------------------------------------------------


def run_nerp(train: list[Document], test: list[Document], recipe: Any, work: Path) -> dict:
    from nerp_deploy.convert.reference import torch_predictor
    from nerp_infra.model_files import read_inference_settings
    from nerp_training.trainer.train import train_model

    eval_docs: list[Document] | None = None
    if not recipe.final_training.train_on_validation:
        train, eval_docs = holdout(train, recipe.data.split.validation, recipe.train.seed)
    started = time.perf_counter()
    result = train_model(
        train_docs=train,
        eval_docs=eval_docs,
        entity_types=recipe.data.labels,
        model_config=recipe.model,
        train_config=recipe.train,
        output_dir=work,
        progress=False,
    )
    train_s = time.perf_counter() - started
    assert result.model_dir is not None
    # Raw predictions are cached; the decoding options are applied when scoring
    # (decoding only, no retraining).
    empty = {"min_confidence": {}, "section_types": {}, "entity_filter": None}
    settings = read_inference_settings(result.model_dir).model_copy(
        update={field: empty.get(field, ()) for field in DECODING_FIELDS}
    )
    predictor = torch_predictor(result.model_dir, settings)
    started = time.perf_counter()
    entities = predictor.predict_batch([d.text for d in test], batch_size=16)
    return {
        "train_s": train_s,
        "predict_s": time.perf_counter() - started,
        "predictions": [[(e.start, e.end, e.label) for e in ents] for ents in entities],
        "confidences": [[round(e.confidence, 4) for e in ents] for ents in entities],
        "epochs_run": len(result.history),
        "train_windows": result.train_windows,
        "train_samples_per_second": result.train_samples_per_second,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "precision": result.precision,
    }


def run_spacy(train: list[Document], test: list[Document], seed: int, work: Path) -> dict:
    import spacy
    from spacy.tokens import DocBin
    from spacy.util import filter_spans

    nlp = spacy.blank("en")

    def docbin(docs: Sequence[Document], path: Path) -> None:
        out = DocBin()
        for d in docs:
            doc = nlp.make_doc(d.text)
            spans = [
                doc.char_span(s.start, s.end, s.label, alignment_mode="expand") for s in d.spans
            ]
            doc.ents = filter_spans([s for s in spans if s is not None])
            out.add(doc)
        out.to_disk(path)

    started = time.perf_counter()
    fit, dev = holdout(train, 0.15, seed)
    docbin(fit, work / "train.spacy")
    docbin(dev, work / "dev.spacy")
    spacy_cli = [sys.executable, "-m", "spacy"]
    subprocess.run(
        [*spacy_cli, "init", "config", str(work / "config.cfg"), "--lang", "en",
         "--pipeline", "ner", "--optimize", "efficiency", "--force"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*spacy_cli, "train", str(work / "config.cfg"), "--output", str(work / "out"),
         "--paths.train", str(work / "train.spacy"), "--paths.dev", str(work / "dev.spacy"),
         "--system.seed", str(seed)],
        check=True, capture_output=True,
    )  # fmt: skip
    train_s = time.perf_counter() - started
    trained = spacy.load(work / "out" / "model-best")
    started = time.perf_counter()
    predictions = [
        [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        for doc in trained.pipe(d.text for d in test)
    ]
    return {
        "train_s": train_s,
        "predict_s": time.perf_counter() - started,
        "predictions": predictions,
    }


def run_hf(
    train: list[Document], test: list[Document], types: Sequence[str], seed: int, work: Path
) -> dict:
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
        pipeline,
    )

    from nerp_training.backbones.minilm import minilm_model_dir
    from nerp_training.trainer.device import cpu_has_native_bf16

    r = HF_RECIPE
    labels = ["O", *[f"{p}-{t}" for t in types for p in "BI"]]
    label2id = {label: i for i, label in enumerate(labels)}
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(minilm_model_dir())
    enc = tokenizer(
        [d.text for d in train], truncation=True, max_length=r["max_length"], stride=r["stride"],
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )  # fmt: skip
    rows = []
    for i, ids in enumerate(enc["input_ids"]):
        doc = train[enc["overflow_to_sample_mapping"][i]]
        spans = sorted((s.start, s.end, s.label) for s in doc.spans)
        row_labels, previous_word = [], None
        for word, (a, b) in zip(enc.word_ids(i), enc["offset_mapping"][i], strict=True):
            if word is None or word == previous_word:
                row_labels.append(-100)
            else:
                tag = "O"
                for start, end, label in spans:
                    if a < end and b > start:
                        tag = f"{'B' if a <= start else 'I'}-{label}"
                        break
                row_labels.append(label2id[tag])
            previous_word = word
        rows.append(
            {"input_ids": ids, "attention_mask": enc["attention_mask"][i], "labels": row_labels}
        )
    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(
        minilm_model_dir(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
    )
    args = TrainingArguments(
        output_dir=str(work), num_train_epochs=r["epochs"], learning_rate=r["learning_rate"],
        per_device_train_batch_size=r["batch_size"], warmup_steps=0.1, weight_decay=0.01,
        seed=seed, save_strategy="no", report_to="none", disable_tqdm=True, logging_strategy="no",
        use_cpu=not torch.cuda.is_available(),
        bf16=cpu_has_native_bf16() or torch.cuda.is_available(),  # as nerp's auto does
    )  # fmt: skip
    Trainer(
        model=model, args=args, train_dataset=rows,
        data_collator=DataCollatorForTokenClassification(tokenizer),
    ).train()  # fmt: skip
    train_s = time.perf_counter() - started
    tagger = pipeline(
        "token-classification", model=model.eval(), tokenizer=tokenizer,
        aggregation_strategy="first", stride=r["stride"], device=-1,
    )  # fmt: skip
    tagger.tokenizer.model_max_length = r["max_length"]
    started = time.perf_counter()
    predictions = [
        [(int(e["start"]), int(e["end"]), str(e["entity_group"])) for e in tagger(d.text)]
        for d in test
    ]
    return {
        "train_s": train_s,
        "predict_s": time.perf_counter() - started,
        "predictions": predictions,
    }


# --- the run ---------------------------------------------------------------------------


def with_data_seed(recipe: Any, seed: int | None) -> Any:
    """``recipe`` with ``train.data_seed`` set (unchanged for ``None`` or the order it
    already trains on, so the same run keeps its cached result)."""
    current = recipe.train.seed if recipe.train.data_seed is None else recipe.train.data_seed
    if seed is None or seed == current:
        return recipe
    return recipe.model_copy(update={"train": recipe.train.model_copy(update={"data_seed": seed})})


def settings_key(system: str, recipe: Any) -> str:
    """What a cached result depends on: nerp's recipe sections, or the peer's fixed recipe."""
    if system == "nerp":
        settings = {
            "model": recipe.model.model_dump(mode="json", exclude=set(DECODING_FIELDS)),
            # data_seed left out while unset: caches from before the field stay valid
            "train": recipe.train.model_dump(
                mode="json", exclude={"data_seed"} if recipe.train.data_seed is None else set()
            ),
            "final": recipe.final_training.train_on_validation,
        }
    elif system == "hf":
        settings = HF_RECIPE
    else:
        settings = {"spacy": "init config --pipeline ner --optimize efficiency"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _order(recipe: Any, system: str) -> str:
    seed = recipe.train.data_seed if system == "nerp" else None
    return "" if seed is None else f" (data seed {seed})"


def _load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(path)


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(rows: dict[str, list[dict]], types: Sequence[str]) -> str:
    """Markdown table: mean (± sd over folds) per system, then ratios against nerp."""
    systems = [s for s in SYSTEMS if rows.get(s)]
    header = "| metric | " + " | ".join(systems) + " |"
    lines = [header, "|---|" + "---:|" * len(systems)]

    def line(name: str, get: Callable[[dict], float], fmt: str = "{:.3f}") -> None:
        cells = []
        for s in systems:
            values = [get(r) for r in rows[s]]
            cells.append(f"{fmt.format(_mean(values))} ± {fmt.format(_sd(values))}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    line("micro F1", lambda r: r["metrics"]["f1_micro"])
    line("macro F1", lambda r: r["metrics"]["f1_macro"])
    line("micro precision", lambda r: r["metrics"]["precision_micro"])
    line("micro recall", lambda r: r["metrics"]["recall_micro"])
    for t in types:
        line(f"F1 {t}", lambda r, t=t: r["metrics"].get(f"f1_{t}", 0.0))
    line("train wall s (per fold)", lambda r: r["train_s"], "{:.0f}")
    line("predict wall s (per fold)", lambda r: r["predict_s"], "{:.1f}")
    if "nerp" in systems:
        nerp_f1 = _mean([r["metrics"]["f1_micro"] for r in rows["nerp"]])
        nerp_s = _mean([r["train_s"] for r in rows["nerp"]])
        lines.append("")
        lines.append("| against nerp | " + " | ".join(systems) + " |")
        lines.append("|---|" + "---:|" * len(systems))
        f1 = [_mean([r["metrics"]["f1_micro"] for r in rows[s]]) for s in systems]
        secs = [_mean([r["train_s"] for r in rows[s]]) for s in systems]
        lines.append(
            "| micro F1, nerp − system (points) | "
            + " | ".join(f"{100 * (nerp_f1 - v):+.1f}" for v in f1)
            + " |"
        )
        lines.append(
            "| train time, system / nerp | " + " | ".join(f"{v / nerp_s:.2f}×" for v in secs) + " |"
        )
    return "\n".join(lines)


ERROR_KINDS = ("exact", "boundary", "wrong type", "missed", "spurious")


def error_counts(
    docs: Sequence[Document], predictions: Sequence[Predicted], types: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per type: gold entities found exactly, found with other boundaries, found under
    another type, missed outright; and predictions overlapping no gold entity at all.

    Strict F1 says how much is wrong; this says what kind of wrong, which decides the fix
    (boundaries: decoding and span conventions; spurious: the gold's unmarked mentions).
    """
    from seqeval.metrics.sequence_labeling import get_entities

    counts = {t: dict.fromkeys(ERROR_KINDS, 0) for t in types}
    for doc, predicted in zip(docs, predictions, strict=True):
        gold = set(
            get_entities(word_tags(doc.text, [(s.start, s.end, s.label) for s in doc.spans]))
        )
        guess = set(get_entities(word_tags(doc.text, [tuple(p) for p in predicted])))
        for label, first, last in gold:
            near = [g for g in guess if g[1] <= last and g[2] >= first]
            if (label, first, last) in guess:
                kind = "exact"
            elif any(g[0] == label for g in near):
                kind = "boundary"
            else:
                kind = "wrong type" if near else "missed"
            counts.setdefault(label, dict.fromkeys(ERROR_KINDS, 0))[kind] += 1
        for label, first, last in guess:
            if not any(g[1] <= last and g[2] >= first for g in gold):
                counts.setdefault(label, dict.fromkeys(ERROR_KINDS, 0))["spurious"] += 1
    return counts


def error_table(counts: dict[str, dict[str, dict[str, int]]]) -> str:
    """Markdown: per system and type, where the gold entities went, summed over folds."""
    lines = ["| system | type | gold | " + " | ".join(ERROR_KINDS) + " |",
             "|---|---|---:|" + "---:|" * len(ERROR_KINDS)]  # fmt: skip
    for system, by_type in counts.items():
        for label, c in by_type.items():
            gold = sum(c[k] for k in ERROR_KINDS if k != "spurious")
            cells = [f"{c[k]} ({100 * c[k] / gold:.0f}%)" if k != "spurious" and gold
                     else str(c[k]) for k in ERROR_KINDS]  # fmt: skip
            lines.append(f"| {system} | {label} | {gold} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: dict[str, list[dict]], types: Sequence[str], path: Path) -> Path:
    """Grouped bars: mean F1 (micro, macro, each type) per system, with the folds' spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["micro", "macro", *types]
    systems = list(rows)
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, system in enumerate(systems):
        values = [[r["metrics"].get(f"f1_{n}", 0.0) for r in rows[system]] for n in names]
        ax.bar(
            [x + i * width for x in range(len(names))],
            [_mean(v) for v in values],
            width,
            yerr=[_sd(v) for v in values],
            label=system,
            capsize=2,
        )
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(names))], names)
    ax.set_ylabel("strict F1 (mean over folds)")
    ax.set_ylim(0, 1)
    ax.set_title("DataTurks resumes, k-fold CV, strict entity F1 over words")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _flat_metrics(metrics: EntityMetrics) -> dict[str, float]:
    flat = metrics.as_flat_dict()
    return {k: float(v) for k, v in flat.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DataTurks JSONL file")
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="experiment YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a recipe key, as nerp's --set (train.epochs=6)")  # fmt: skip
    parser.add_argument("--folds", type=int, default=3, help="k of k-fold (>= 3)")
    parser.add_argument("--only-folds", type=str, default="", help="comma list, e.g. 0,1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--data-seeds",
        default="",
        help="comma list of train.data_seed values: nerp trains each fold once per data "
        "order and the table pools every run (the spread a recipe change must beat)",
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of systems")
    parser.add_argument(
        "--results", type=Path, default=ROOT / "outputs" / "benchmarks" / "accuracy.json"
    )
    parser.add_argument("--fresh", action="store_true", help="ignore cached fold results")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="print the table from cached results, train nothing",
    )
    parser.add_argument("--tune-floors", action="store_true",
                        help="tune model.min_confidence on nerp's cached folds")  # fmt: skip
    parser.add_argument(
        "--fit-filter",
        action="store_true",
        help="fit model.entity_filter on nerp's cached folds (written next to --results)",
    )
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each run's work folder (models) under this folder")  # fmt: skip
    args = parser.parse_args(argv)

    from nerp_infra.config import load_experiment
    from nerp_training.data.splits import kfold_documents

    if args.folds < 3:
        parser.error("--folds must be at least 3")
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file (the shared DataTurks resumes)")
    recipe = load_experiment(args.recipe, args.overrides)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"--systems: unknown {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    docs = load_documents(args.data, recipe)
    types = list(recipe.data.labels)
    folds = kfold_documents(docs, args.folds, seed=args.seed)
    wanted = {int(f) for f in args.only_folds.split(",") if f.strip()} or {f.index for f in folds}
    results = {} if args.fresh else _load_results(args.results)
    load = os.getloadavg()
    print(f"{len(docs)} documents, {args.folds} folds (seed {args.seed}), systems {systems}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cpus",
          flush=True)  # fmt: skip
    rows: dict[str, list[dict]] = {s: [] for s in SYSTEMS}
    decoding_options = Decoding.of(recipe)
    decoding = decoding_options.describe()
    min_confidence = dict(recipe.model.min_confidence)
    floors = ", ".join(f"{t} {v}" for t, v in min_confidence.items())
    decoding += [f"min_confidence ({floors})"] if min_confidence else []
    raw: list[dict] = []  # nerp's folds before the decoding options, for the ablation line
    nerp_folds: dict[int, list[tuple[list[Document], dict]]] = {}  # for --tune-floors
    data_seeds = [int(v) for v in args.data_seeds.split(",") if v.strip()] or [None]
    errors: dict[str, dict[str, dict[str, int]]] = {}
    for fold in folds:
        train, test = fold.select(docs)
        runs = [
            (system, with_data_seed(recipe, seed))
            for system in systems
            for seed in (data_seeds if system == "nerp" else [None])
        ]
        for system, run_recipe in runs:
            settings = settings_key(system, run_recipe)
            key = f"{system}/{settings}/k{args.folds}-s{args.seed}/fold{fold.index}"
            if key not in results and fold.index in wanted and not args.report_only:
                print(
                    f"fold {fold.index}: {system}{_order(run_recipe, system)} trains on "
                    f"{len(train)}, tests on {len(test)} …",
                    flush=True,
                )
                with tempfile.TemporaryDirectory(prefix=f"nerp-acc-{system}-") as tmp:
                    work = Path(tmp)
                    if args.keep is not None:
                        work = args.keep / key.replace("/", "_")
                        work.mkdir(parents=True, exist_ok=True)
                    if system == "nerp":
                        out = run_nerp(train, test, run_recipe, work)
                    elif system == "spacy":
                        out = run_spacy(train, test, args.seed, work)
                    else:
                        out = run_hf(train, test, types, args.seed, work)
                results[key] = {
                    **out,  # predictions stay: scoring and error analysis read them
                    "metrics": _flat_metrics(score(test, out["predictions"])),
                    "fold": fold.index,
                    "load_after": os.getloadavg()[0],
                }
                _save_results(args.results, results)
                m = results[key]["metrics"]
                print(
                    f"fold {fold.index}: {system}{_order(run_recipe, system)} micro F1 "
                    f"{m['f1_micro']:.3f} macro "
                    f"{m['f1_macro']:.3f} ({out['train_s']:.0f} s training)",
                    flush=True,
                )
            if key in results:
                row = results[key]
                if system == "nerp" and "confidences" in row:
                    nerp_folds.setdefault(fold.index, []).append((test, row))
                if system == "nerp" and decoding and "predictions" in row:
                    raw.append(row)
                    predicted = decoded(
                        test,
                        row["predictions"],
                        decoding_options,
                        min_confidence,
                        row.get("confidences"),
                    )
                    row = {**row, "predictions": predicted,
                           "metrics": _flat_metrics(score(test, predicted))}  # fmt: skip
                rows[system].append(row)
                if "predictions" in row:  # caches from before predictions were kept
                    counts = error_counts(test, row["predictions"], types)
                    total = errors.setdefault(system, {})
                    for label, c in counts.items():
                        for kind, n in c.items():
                            total.setdefault(label, dict.fromkeys(ERROR_KINDS, 0))[kind] += n
    rows = {s: r for s, r in rows.items() if r}
    table = summarise(rows, types)
    counts = {s: len(r) for s, r in rows.items()}
    print(f"\nStrict entity F1 over whitespace words, whole documents; mean ± sd over folds "
          f"{counts}:\n")  # fmt: skip
    if raw:
        ablation = (
            f"\nnerp without model.{' and model.'.join(decoding)}: micro F1 "
            f"{_mean([r['metrics']['f1_micro'] for r in raw]):.3f}, macro "
            f"{_mean([r['metrics']['f1_macro'] for r in raw]):.3f} over {len(raw)} folds"
        )
        table += "\n" + ablation
    print(table)
    if errors:
        table += "\n\nWhere the gold entities went (all folds):\n\n" + error_table(errors)
        print("\nWhere the gold entities went (all folds):\n")
        print(error_table(errors))
    if args.tune_floors:
        if len(nerp_folds) < 3:
            parser.error("--tune-floors needs nerp's cached predictions of at least 3 folds")
        print("\nTuning model.min_confidence (coordinate ascent, nested) …", flush=True)
        tuned = floors_report(list(nerp_folds.values()), types, decoding_options)
        print(tuned)
        table += "\n\n" + tuned
    if args.fit_filter:
        if len(nerp_folds) < 3:
            parser.error("--fit-filter needs nerp's cached predictions of at least 3 folds")
        print("\nFitting model.entity_filter (logistic regression, nested) …", flush=True)
        fitted, chosen = filter_report(
            list(nerp_folds.values()), types, decoding_options, min_confidence
        )
        import yaml

        block = yaml.safe_dump({"entity_filter": chosen.model_dump()}, sort_keys=False)
        path = args.results.with_suffix(".filter.yaml")
        path.write_text(block)
        print(f"{fitted}\nmodel.entity_filter for the recipe: {path}")
        table += "\n\n" + fitted
    (args.results.with_suffix(".md")).write_text(table + "\n")
    chart = plot(rows, types, args.results.with_suffix(".png"))
    print(f"\ntable: {args.results.with_suffix('.md')}\nchart: {chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
