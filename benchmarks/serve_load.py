"""HTTP load on `nerp serve`: requests/s and latency percentiles for N concurrent clients.

Starts `nerp serve PACKAGE` on a loopback port (its own process, with ``--workers``), then
N client threads, each with its own keep-alive connection, post real-length resumes to
``/predict`` (or ``--batch K`` texts to ``/predict/batch``) for ``--seconds``. Every
answer must be 200; requests/s counts completed requests, latency is per request.

The texts are whole DataTurks resumes of 3,000–5,000 characters when the shared data
folder is next to the checkout, else synthetic resumes joined to that length. By default
the server runs twice in one run, micro-batching off (before: one model call per request)
then on (after), with 1, 8 and 32 clients each, and the ratio is printed; the machine's
load average is printed before and after. ``--baseline DIR`` adds an earlier nerp's server
first (a checkout of it, e.g. ``git worktree add /tmp/nerp-before REV``; its nerp-infra and
nerp-deploy sources run in this environment) and every ratio is against it.

    uv run python benchmarks/serve_load.py PACKAGE --workers 2
    uv run python benchmarks/serve_load.py PACKAGE --modes on --clients 8 --seconds 30
    uv run python benchmarks/serve_load.py --baseline DIR --modes on --variant int8 bf16

Without PACKAGE a small model is trained and converted first (tiny BERT, seconds).

``--soak`` holds one load for a long time instead: 8 clients for 60 s (``--clients``,
``--seconds``) posting one resume-sized text to ``/predict``, and reports requests/s,
p50/p99, errors and each worker's resident memory at the start and the end (psutil), so
a leak or a worker restart shows.

    uv run python benchmarks/serve_load.py --soak --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from nerp_deploy.convert import build_toy_checkpoint, convert_checkpoint, synthetic_documents

console = Console()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    package: Path,
    workers: int,
    threads: int | None,
    extra: list[str] | None = None,
    baseline: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``nerp serve`` on a free port; with ``baseline`` (a checkout of an earlier nerp) the
    server runs that checkout's nerp-infra and nerp-deploy sources in this environment."""
    port = free_port()
    env = dict(os.environ)
    if baseline is None:
        nerp = [shutil.which("nerp") or str(Path(sys.executable).parent / "nerp")]
    else:
        sources = [baseline / "packages" / name / "src" for name in ("infra", "deploy")]
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in sources)
        nerp = [sys.executable, "-c", "from nerp_infra.cli import main; main()"]
    command = [*nerp, "serve", str(package), "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--max-batch-texts", "256", *(extra or [])]
    if threads:
        command += ["--threads", str(threads)]
    server = subprocess.Popen(command, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("nerp serve exited before it answered /health")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("nerp serve did not answer /health in 120 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def run_load(
    url: str, texts: list[str], clients: int, seconds: float, batch: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        i = offset
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < stop:
                body: dict[str, object]
                if batch > 1:
                    body = {"texts": [texts[(i + k) % len(texts)] for k in range(batch)]}
                    path = "/predict/batch"
                else:
                    body, path = {"text": texts[i % len(texts)]}, "/predict"
                start = time.perf_counter()
                response = http.post(path, json=body)
                mine.append(time.perf_counter() - start)
                bad += response.status_code != 200
                i += clients
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies, errors


def worker_rss_mb(server: subprocess.Popen[bytes]) -> dict[int, float]:
    """Resident memory (MiB) of each uvicorn worker under ``server`` (spawned processes;
    multiprocessing's resource tracker is left out). One worker: the server itself."""
    import psutil

    parent = psutil.Process(server.pid)
    workers = [
        child
        for child in parent.children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline())
    ]
    return {p.pid: p.memory_info().rss / 2**20 for p in (workers or [parent])}


def resume_text(min_chars: int = 4000) -> str:
    """A resume-length text (about two pages, ``min_chars`` or more): synthetic resume
    sections joined until that long, as real resumes run to a few thousand characters."""
    parts: list[str] = []
    for doc in synthetic_documents(64, seed=7, min_sections=14, max_sections=22):
        parts.append(doc.text)
        if sum(len(part) + 2 for part in parts) >= min_chars:
            return "\n\n".join(parts)
    raise SystemExit(f"synthetic resumes hold fewer than {min_chars} characters")


def soak(server: subprocess.Popen[bytes], url: str, clients: int, seconds: float) -> int:
    text = resume_text()
    run_load(url, [text], 2, 2.0, 1)  # warm-up
    before = worker_rss_mb(server)
    rate, latencies, errors = run_load(url, [text], clients, seconds, 1)
    after = worker_rss_mb(server)
    table = Table(
        title=f"soak: {clients} clients for {seconds:.0f} s on one {len(text)}-character "
        f"resume, {len(before)} worker(s), {os.cpu_count()} CPUs"
    )
    for column in ("requests", "requests/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(latencies)),
        f"{rate:.1f}",
        f"{percentile(latencies, 50) * 1000:.1f}",
        f"{percentile(latencies, 99) * 1000:.1f}",
        str(errors),
    )
    console.print(table)
    memory = Table(title="worker RSS (MiB)")
    for column in ("worker pid", "start", "end", "change"):
        memory.add_column(column, justify="right")
    for pid in sorted(set(before) | set(after)):
        start, end = before.get(pid), after.get(pid)
        memory.add_row(
            str(pid),
            "-" if start is None else f"{start:.0f}",
            "-" if end is None else f"{end:.0f}",
            "-" if start is None or end is None else f"{end - start:+.0f}",
        )
    console.print(memory)
    if set(before) != set(after):
        console.print("[red]workers changed during the soak (a worker died or restarted)[/]")
    return 1 if errors or set(before) != set(after) else 0


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATATURKS = SHARED / "data/dataturks-resumes/resumes.jsonl"


def real_resumes(min_chars: int = 3000, max_chars: int = 5000) -> tuple[list[str], str]:
    """Whole resumes of real length: DataTurks' when present, else synthetic ones."""
    if DATATURKS.is_file():
        with DATATURKS.open(encoding="utf-8") as handle:
            texts = [json.loads(line)["content"] for line in handle if line.strip()]
        chosen = [t for t in texts if min_chars <= len(t) <= max_chars]
        if chosen:
            return chosen, f"{len(chosen)} DataTurks resumes"
    texts = [resume_text(min_chars + 64 * i)[:max_chars] for i in range(8)]
    return texts, "8 synthetic resumes"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, nargs="?", help="ONNX package (default: a tiny one)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per worker")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=1, help="texts per request (/predict/batch)")
    parser.add_argument(
        "--soak", action="store_true", help="one long run (default 8 clients, 60 s); RSS"
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["off", "on"],
        default=["off", "on"],
        help="micro-batching off and/or on (default both, in one run)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of an earlier nerp (git worktree add DIR REV): its server runs first, "
        "as 'before', and every row's ratio is against it",
    )
    parser.add_argument(
        "--variant",
        nargs="+",
        choices=["fp32", "int8", "bf16"],
        default=[None],
        help="model variant(s) of this checkout's servers, each served in turn in the same run "
        "(default: the package's default; the --baseline server keeps its default)",
    )
    parser.add_argument("--micro-batch-wait-ms", type=float, default=None)
    parser.add_argument("--micro-batch-max-texts", type=int, default=None)
    args = parser.parse_args()
    if args.soak:
        args.clients = args.clients if "--clients" in sys.argv else [8]
        args.seconds = args.seconds if "--seconds" in sys.argv else 60.0
    package = args.package
    if package is None:
        work = Path(tempfile.mkdtemp(prefix="nerp-serve-load-"))
        console.print(f"making a tiny package in {work}")
        model = build_toy_checkpoint(work / "model", steps=60)
        package = convert_checkpoint(model, work / "package").package_dir
    texts, source = real_resumes()
    console.print(f"load average at start: {load_average()} ({os.cpu_count()} CPUs)")
    if args.soak:
        server, url = start_server(package, args.workers, args.threads)
        try:
            return soak(server, url, args.clients[0], args.seconds)
        finally:
            stop_server(server)
    if args.baseline is not None and not (args.baseline / "packages" / "deploy").is_dir():
        raise SystemExit(f"--baseline {args.baseline}: not a nerp checkout (no packages/deploy)")
    servers: list[tuple[str, str | None]] = [("before", None)] if args.baseline else []
    servers += [(mode, variant) for variant in args.variant for mode in args.modes]
    rows: dict[tuple[str, str | None, int], tuple[float, float, float, int]] = {}
    for mode, variant in servers:
        extra: list[str] = []
        if mode != "before":
            extra = ["--micro-batch" if mode == "on" else "--no-micro-batch"]
            if args.micro_batch_wait_ms is not None:
                extra += ["--micro-batch-wait-ms", str(args.micro_batch_wait_ms)]
            if args.micro_batch_max_texts is not None:
                extra += ["--micro-batch-max-texts", str(args.micro_batch_max_texts)]
            if variant is not None:
                extra += ["--variant", variant]
        baseline = args.baseline if mode == "before" else None
        server, url = start_server(package, args.workers, args.threads, extra, baseline)
        try:
            run_load(url, texts, 2, 2.0, args.batch)  # warm-up: sessions, thread pools, caches
            for clients in args.clients:
                rate, latencies, errors = run_load(url, texts, clients, args.seconds, args.batch)
                rows[mode, variant, clients] = (
                    rate,
                    percentile(latencies, 50) * 1000,
                    percentile(latencies, 99) * 1000,
                    errors,
                )
        finally:
            stop_server(server)
    mean_chars = sum(map(len, texts)) / len(texts)
    table = Table(
        title=f"nerp serve {package.name}: {args.workers} workers, {args.batch} text(s) per "
        f"request, {source} ({mean_chars:.0f} characters on average), {args.seconds:.0f} s "
        f"per row, {os.cpu_count()} CPUs"
    )
    for column in ("server", "clients", "requests/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    reference = servers[0]
    if len(servers) > 1:
        table.add_column(f"× {reference[0]} requests/s", justify="right")
    names = {"before": f"before ({args.baseline})", "off": "micro-batching off", "on": "on"}
    for (mode, variant, clients), (rate, p50, p99, errors) in rows.items():
        name = names[mode] + (f", {variant}" if variant else "")
        cells = [name, str(clients), f"{rate:.1f}", f"{p50:.1f}", f"{p99:.1f}", str(errors)]
        if len(servers) > 1:
            cells.append(f"{rate / rows[(*reference, clients)][0]:.2f}")
        table.add_row(*cells)
    console.print(table)
    console.print(f"load average at end: {load_average()}")
    return 1 if any(row[3] for row in rows.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
