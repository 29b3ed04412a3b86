"""Training throughput: ``nerp train`` against a plain ``transformers.Trainer`` run.

Both sides train the same model (same backbone, tokenizer and initial weights) on the same
documents (one dataset artifact) with the same settings (epochs, batch size, learning
rate schedule, evaluation and checkpoint every epoch, best model kept), each in a fresh
process so peak memory is its own. The plain side is the Hugging Face token-classification
recipe: ``return_overflowing_tokens`` windows, labels on first sub-tokens, seqeval on
windows. The nerp side is the whole final-training workflow (dataset reuse, fingerprints,
artifact, MLflow on SQLite, whole-document metrics after merging windows, model
directory). Reported side by side and as nerp / plain ratios:

- sequences/s: windows trained per second of the Trainer's ``train_runtime`` (the
  Trainer's own ``train_samples_per_second``, evaluation and checkpoints included);
- wall s and cpu s: the whole run in the worker, tokenisation to saved model (library
  imports excluded on both sides; nerp's includes creating the MLflow SQLite store).
  CPU seconds are less disturbed than wall time by other load on a shared machine;
- peak RSS (CPU) and peak CUDA memory allocated (GPU).

Usage::

    uv run python benchmarks/train_throughput.py                      # tiny, CPU
    uv run python benchmarks/train_throughput.py --backbone minilm --docs 120 --repeats 3

Speed and memory targets live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIDES = ("plain", "nerp")


def _overrides(args: argparse.Namespace) -> list[str]:
    return [
        f"data.synthetic.n_documents={args.docs}",
        f"model.backbone={args.backbone}",
        f"model.max_length={args.max_length}",
        f"model.stride={args.stride}",
        f"train.epochs={args.epochs}",
        f"train.batch_size={args.batch_size}",
        f"train.learning_rate={args.learning_rate}",
        "train.early_stopping_patience=null",
        f"train.precision={args.precision}",
        "final_training.source=scratch",
        "final_training.train_on_validation=false",
        "final_training.run_mode=force_new",
    ]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peaks() -> dict[str, float]:
    import torch

    peaks = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        peaks["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peaks


# -- workers (one per process) -------------------------------------------------------------


def _worker_nerp(root: Path, overrides: list[str]) -> dict[str, Any]:
    import mlflow  # noqa: F401  imported before the clock starts, as the plain side's
    import transformers.trainer  # noqa: F401  libraries are: wall time excludes imports

    from nerp_infra.config import load_experiment
    from nerp_training.final import run_final_training
    from nerp_training.trainer import train  # noqa: F401

    config = load_experiment(None, overrides)
    started, cpu = time.perf_counter(), _cpu_s()
    outcome = run_final_training(config, output_root=root, progress=False)
    wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
    assert outcome.result is not None
    return {
        "sequences": outcome.result.train_windows,
        "steps": outcome.result.global_step,
        "sequences_per_s": outcome.result.train_samples_per_second,
        "wall_s": wall,
        "cpu_s": cpu,
        "f1_micro": outcome.metrics.get("f1_micro"),
        **_peaks(),
    }


def _hf_windows(docs: list[Any], tokenizer: Any, labels: list[str], args: Any) -> list[dict]:
    """The Hugging Face recipe: overflowing windows, first sub-token of each word labelled."""
    label2id = {label: i for i, label in enumerate(labels)}
    encoded = tokenizer(
        [doc.text for doc in docs],
        truncation=True,
        max_length=args["max_length"],
        stride=args["stride"],
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    rows = []
    for row, doc_index in enumerate(encoded["overflow_to_sample_mapping"]):
        spans = sorted(docs[doc_index].spans, key=lambda s: s.start)
        word_ids = encoded.word_ids(row)
        offsets = encoded["offset_mapping"][row]
        row_labels, previous = [], None
        for word, (start, end) in zip(word_ids, offsets, strict=True):
            if word is None or word == previous:
                row_labels.append(-100)
            else:
                tag = "O"
                for span in spans:
                    if span.start < end and start < span.end:
                        tag = ("B-" if start <= span.start else "I-") + span.label
                        break
                row_labels.append(label2id[tag])
            previous = word
        rows.append(
            {
                "input_ids": encoded["input_ids"][row],
                "attention_mask": encoded["attention_mask"][row],
                "labels": row_labels,
            }
        )
    return rows


def _worker_plain(root: Path, dataset_dir: Path, overrides: list[str]) -> dict[str, Any]:
    import numpy as np
    from seqeval.metrics import f1_score
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    from nerp_infra.config import load_experiment
    from nerp_infra.labels import LabelScheme
    from nerp_training.backbones import build_model, build_tokenizer, resolve_backbone
    from nerp_training.data import load_dataset
    from nerp_training.trainer import resolve_precision

    config = load_experiment(None, overrides)
    model_cfg, train = config.model, config.train
    started, cpu = time.perf_counter(), _cpu_s()
    dataset = load_dataset(dataset_dir)
    labels = list(LabelScheme(dataset.labels).labels)
    spec = resolve_backbone(model_cfg.backbone)
    tokenizer = build_tokenizer(
        spec,
        texts=[doc.text for doc in dataset.train],
        vocab_size=model_cfg.tiny.vocab_size,
        max_length=model_cfg.max_length,
    )
    model = build_model(
        spec,
        labels=labels,
        tokenizer=tokenizer,
        dropout=train.dropout,
        tiny=model_cfg.tiny,
        max_length=model_cfg.max_length,
        seed=train.seed,
    )
    window = {"max_length": model_cfg.max_length, "stride": model_cfg.stride}
    train_rows = _hf_windows(dataset.train, tokenizer, labels, window)
    eval_rows = _hf_windows(dataset.validation, tokenizer, labels, window)

    def compute_metrics(prediction: Any) -> dict[str, float]:
        predicted = np.argmax(prediction.predictions, axis=-1)
        gold, guess = [], []
        for p_row, l_row in zip(predicted, prediction.label_ids, strict=True):
            keep = l_row != -100
            gold.append([labels[i] for i in l_row[keep]])
            guess.append([labels[i] for i in p_row[keep]])
        return {"f1_micro": float(f1_score(gold, guess))}

    precision = resolve_precision(train.precision)
    args = TrainingArguments(
        output_dir=str(root / "plain"),
        num_train_epochs=train.epochs,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size * 2,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        warmup_steps=train.warmup_ratio,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        max_grad_norm=train.max_grad_norm,
        seed=train.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="eval_f1_micro",
        logging_strategy="epoch",
        disable_tqdm=True,
        report_to="none",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    output = trainer.train()
    trainer.save_model(str(root / "plain-model"))
    wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
    best = trainer.state.best_metric
    return {
        "sequences": len(train_rows),
        "steps": trainer.state.global_step,
        "sequences_per_s": float(output.metrics["train_samples_per_second"]),
        "wall_s": wall,
        "cpu_s": cpu,
        "f1_micro": None if best is None else float(best),
        **_peaks(),
    }


def _worker(argv: list[str]) -> None:
    side, root, dataset_dir, overrides_json = argv
    overrides = json.loads(overrides_json)
    if side == "nerp":
        result = _worker_nerp(Path(root), overrides)
    else:
        result = _worker_plain(Path(root), Path(dataset_dir), overrides)
    print("RESULT " + json.dumps(result), flush=True)


# -- driver ----------------------------------------------------------------------------------


def _run_side(side: str, root: Path, dataset_dir: Path, overrides: list[str]) -> dict[str, Any]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "MLFLOW_TRACKING_URI": ""}
    command = [
        sys.executable,
        __file__,
        "--worker",
        side,
        str(root),
        str(dataset_dir),
        json.dumps(overrides),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{side} run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


_PICKS = {
    # the median, and the best run of each side (the least disturbed by other load)
    "median": lambda key, values: statistics.median(values),
    "best": lambda key, values: max(values) if key == "sequences_per_s" else min(values),
}


def _summarise(
    runs: dict[str, list[dict[str, Any]]], keys: list[str], pick: Any
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    chosen = {
        side: {
            key: float(pick(key, [r[key] for r in runs[side]]))
            for key in keys
            if all(key in r for r in runs[side])
        }
        for side in SIDES
    }
    ratio = {
        key: chosen["nerp"][key] / chosen["plain"][key]
        for key in keys
        if key in chosen["nerp"] and chosen["plain"].get(key)
    }
    return chosen, ratio


def _describe_device() -> str:
    import platform

    import torch

    if torch.cuda.is_available():
        return f"CUDA {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--docs", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; medians reported")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    overrides = _overrides(args)

    from nerp_infra.artifacts import ArtifactIndex
    from nerp_infra.config import load_experiment
    from nerp_infra.paths import OutputLayout
    from nerp_training.data import prepare_dataset

    with tempfile.TemporaryDirectory(prefix="nerp-train-bench-") as tmp:
        root = Path(tmp)
        config = load_experiment(None, overrides)
        dataset = prepare_dataset(config.data, index=ArtifactIndex(root), layout=OutputLayout(root))
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        for repeat in range(args.repeats):
            order = SIDES if repeat % 2 == 0 else SIDES[::-1]  # alternate against drift
            for side in order:
                runs[side].append(_run_side(side, root, dataset.artifact_dir, overrides))

    keys = ["sequences_per_s", "wall_s", "cpu_s", "peak_rss_mb", "peak_cuda_mb"]
    summary = {name: _summarise(runs, keys, pick) for name, pick in _PICKS.items()}
    print(f"device: {_describe_device()}")
    print(
        f"backbone {args.backbone}, {args.docs} documents, max_length {args.max_length}, "
        f"stride {args.stride}, batch {args.batch_size}, {args.epochs} epochs, "
        f"{args.repeats} run(s) per side"
    )
    print(
        f"windows trained: plain {runs['plain'][0]['sequences']}, "
        f"nerp {runs['nerp'][0]['sequences']}"
    )
    for name, (median, ratio) in summary.items():
        print(f"\n{name:16}{'plain HF':>12}{'nerp train':>12}{'nerp/plain':>12}")
        for key in keys:
            if key in ratio:
                plain, nerp = median["plain"][key], median["nerp"][key]
                print(f"{key:16}{plain:12.1f}{nerp:12.1f}{ratio[key]:12.2f}")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"out": str(args.out)},
                    "runs": runs,
                    "ratio": {name: ratio for name, (_, ratio) in summary.items()},
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
