"""HTTP load on `nerp serve`: requests/s and latency percentiles for N concurrent clients.

Starts `nerp serve PACKAGE` on a loopback port (its own process, with ``--workers``), then
N client threads, each with its own keep-alive connection, post resume-sized texts to
``/predict`` (or ``--batch K`` texts to ``/predict/batch``) for ``--seconds``. Every
answer must be 200; requests/s counts completed requests, latency is per request.

    uv run python benchmarks/serve_load.py PACKAGE --clients 1 4 16 --workers 2

Without PACKAGE a small model is trained and converted first (tiny BERT, seconds).

``--soak`` holds one load for a long time instead: 8 clients for 60 s (``--clients``,
``--seconds``) posting one resume-sized text to ``/predict``, and reports requests/s,
p50/p99, errors and each worker's resident memory at the start and the end (psutil), so
a leak or a worker restart shows.

    uv run python benchmarks/serve_load.py --soak --workers 2
"""

from __future__ import annotations

import argparse
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
    package: Path, workers: int, threads: int | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    nerp = shutil.which("nerp") or str(Path(sys.executable).parent / "nerp")
    command = [nerp, "serve", str(package), "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--max-batch-texts", "256"]
    if threads:
        command += ["--threads", str(threads)]
    server = subprocess.Popen(command, start_new_session=True)
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, nargs="?", help="ONNX package (default: a tiny one)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per worker")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=1, help="texts per request (/predict/batch)")
    parser.add_argument(
        "--soak", action="store_true", help="one long run (default 8 clients, 60 s); RSS"
    )
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
    texts = [d.text for d in synthetic_documents(64, seed=7, min_sections=4, max_sections=12)]
    server, url = start_server(package, args.workers, args.threads)
    if args.soak:
        try:
            return soak(server, url, args.clients[0], args.seconds)
        finally:
            stop_server(server)
    try:
        run_load(url, texts, 2, 2.0, args.batch)  # warm-up: sessions, thread pools, caches
        table = Table(
            title=f"nerp serve {package.name}: {args.workers} workers, "
            f"{args.batch} text(s) per request, {args.seconds:.0f} s per row, "
            f"{os.cpu_count()} CPUs"
        )
        for column in ("clients", "requests/s", "p50 ms", "p99 ms", "errors"):
            table.add_column(column, justify="right")
        for clients in args.clients:
            rate, latencies, errors = run_load(url, texts, clients, args.seconds, args.batch)
            table.add_row(
                str(clients),
                f"{rate:.1f}",
                f"{percentile(latencies, 50) * 1000:.1f}",
                f"{percentile(latencies, 99) * 1000:.1f}",
                str(errors),
            )
        console.print(table)
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
