"""Workers started together on a new SQLite study database all open it.

Each creates Optuna's schema; before the retry in ``open_storage`` most rounds had one
worker fail with "table studies already exists" or a UNIQUE failure on alembic_version.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from queue import Queue
from typing import Any

from nerp_hpo.storage import open_storage

WORKERS = 4
ROUNDS = 3


def _open(url: str, barrier: Any, results: Queue[str]) -> None:
    barrier.wait()  # every worker creates the schema at the same moment
    try:
        open_storage(url)
        results.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put(f"{type(exc).__name__}: {exc}")


def test_workers_opening_a_new_sqlite_storage_together_all_succeed(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    for round_ in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'round{round_}' / 'optuna.db'}"
        barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
        workers = [ctx.Process(target=_open, args=(url, barrier, results)) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        outcomes = [results.get(timeout=10) for _ in workers]
        assert outcomes == ["ok"] * WORKERS, outcomes
