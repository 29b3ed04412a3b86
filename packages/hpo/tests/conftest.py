"""Shared fixtures of the nerp-hpo tests.

Studies run for real: Optuna on SQLite, a journal file or PostgreSQL at 127.0.0.1, MLflow
on SQLite, and the tiny random BERT trained for real on synthetic resumes. Tests about
storage, workers and budgets use a cheap real objective (a quadratic that sleeps a
little) in subprocesses, so killing and freezing workers is fast; the CV objective, the
refit and the CLI run the real trainer at tiny sizes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Tiny models train fastest on one thread; with several test processes sharing two cores,
# torch's default of one thread per core makes each step up to 100x slower. Set before
# torch is imported (here and in every subprocess, which inherit the environment).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

PG_URLS = tuple(filter(None, [os.environ.get("NERP_TEST_POSTGRES_URL")])) or (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
"""Where the PostgreSQL tests look; NERP_TEST_POSTGRES_URL replaces both."""

TINY_EXPERIMENT: dict[str, Any] = {
    "name": "hpo-test",
    "data": {"synthetic": {"n_documents": 60, "seed": 3}},
    "model": {
        "backbone": "tiny",
        "max_length": 64,
        "stride": 16,
        "tiny": {
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
            "intermediate_size": 64,
            "vocab_size": 500,
        },
    },
    "train": {"epochs": 1, "batch_size": 8, "early_stopping_patience": None, "precision": "fp32"},
    "hpo": {
        "study_name": "t",
        "n_trials": 2,
        "k_folds": 2,
        "objective_metric": "f1_micro",
        "search_space": {
            "learning_rate": {"type": "loguniform", "low": 5.0e-3, "high": 3.0e-2},
            "batch_size": {"type": "choice", "values": [8, 16]},
        },
        "sampler": {"type": "random", "seed": 7},
        "pruner": {"type": "none"},
        "heartbeat_interval_s": 2,
        "refit": True,  # the default is off (one backbone needs none); these tests cover it
    },
}


@pytest.fixture(autouse=True)
def _no_inherited_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlflow.set_tracking_uri`` exports MLFLOW_TRACKING_URI, which nerp then prefers
    over the output root's database: without this, a test would log into the MLflow
    database of the test before it (and pass that to its subprocesses)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; a ``search_space`` given replaces the base one (no leftover dimensions)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "search_space":
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="session")
def tiny_experiment() -> Callable[..., Any]:
    """``tiny_experiment({"hpo": {...}})``: the tiny experiment with overrides merged in."""
    from nerp_infra.config import ExperimentConfig

    def make(override: dict[str, Any] | None = None) -> ExperimentConfig:
        return ExperimentConfig.model_validate(merge(TINY_EXPERIMENT, override or {}))

    return make


@pytest.fixture
def write_experiment(tmp_path: Path) -> Callable[..., Path]:
    """Write the tiny experiment (with overrides) as YAML for CLI tests."""
    import yaml

    def write(override: dict[str, Any] | None = None, name: str = "experiment.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(merge(TINY_EXPERIMENT, override or {})), encoding="utf-8")
        return path

    return write


# -- PostgreSQL -------------------------------------------------------------------------


def _reachable(url: str) -> bool:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL at 127.0.0.1:5432/test (trust auth), or a skip saying why not;
    under CI=true a failure, so CI cannot pass without testing multi-worker studies."""
    for url in PG_URLS:
        if _reachable(url):
            return url
    reason = "PostgreSQL at 127.0.0.1:5432 db 'test' is unreachable (users postgres, root)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true needs it (.ci/run starts it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def unique_study(postgres_url: str) -> Iterator[str]:
    """A study name no other test run uses; the study is deleted afterwards."""
    import optuna

    name = f"nerp-test-{uuid.uuid4().hex[:12]}"
    yield name
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=postgres_url)


# -- subprocess workers with a cheap objective ---------------------------------------------

WORKER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time, pathlib
    import optuna
    from nerp_hpo.storage import open_storage
    from nerp_hpo.trials import retry_trial, run_trials

    url, name, budget, markers = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    hold_at = int(os.environ.get("HOLD_AT", "-1"))
    heartbeat = int(os.environ.get("HEARTBEAT", "0")) or None
    wait = os.environ.get("WAIT_FOR_OTHERS") == "1"
    markers = pathlib.Path(markers)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(
        url,
        heartbeat_interval_s=heartbeat,
        stale_trial_callback=retry_trial if heartbeat else None,
    )
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=os.getpid())
    )
    started = 0

    def objective(trial):
        global started
        x = trial.suggest_float("x", -2.0, 2.0)
        (markers / f"start-{trial.number}-{os.getpid()}").write_text(str(x))
        if started == hold_at:
            (markers / f"holding-{os.getpid()}").write_text(str(trial.number))
            time.sleep(600)
        started += 1
        time.sleep(float(os.environ.get("TRIAL_SECONDS", "0.05")))
        return -(x - 0.5) ** 2

    counts = run_trials(study, objective, budget=budget, wait_for_others=wait, poll_s=0.2)
    print("done", counts.complete, counts.pruned, counts.failed)
    """
)


class Worker:
    """A worker subprocess running the cheap objective against a shared study."""

    def __init__(self, process: subprocess.Popen[str], markers: Path) -> None:
        self.process = process
        self.markers = markers

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_holding(self, timeout_s: float = 60) -> int:
        """Wait until the worker sits inside its held trial; returns the trial number."""
        marker = self.markers / f"holding-{self.pid}"
        deadline = time.monotonic() + timeout_s
        while not marker.exists():
            if self.process.poll() is not None:
                out = self.process.communicate()[0]
                raise AssertionError(f"worker exited early ({self.process.returncode}): {out}")
            if time.monotonic() > deadline:
                raise AssertionError("worker never reached its held trial")
            time.sleep(0.05)
        time.sleep(0.2)
        return int(marker.read_text())

    def finish(self, timeout_s: float = 120) -> str:
        out, _ = self.process.communicate(timeout=timeout_s)
        assert self.process.returncode == 0, out
        return out


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """``spawn_worker(url, study, budget, hold_at=-1, heartbeat=0, wait=False)``."""
    script = tmp_path / "cheap_worker.py"
    script.write_text(WORKER_SCRIPT, encoding="utf-8")
    markers = tmp_path / "markers"
    markers.mkdir()
    started: list[subprocess.Popen[str]] = []

    def spawn(
        url: str,
        study: str,
        budget: int,
        *,
        hold_at: int = -1,
        heartbeat: int = 0,
        wait: bool = False,
        trial_seconds: float = 0.05,
    ) -> Worker:
        env = {
            **os.environ,
            "HOLD_AT": str(hold_at),
            "HEARTBEAT": str(heartbeat),
            "WAIT_FOR_OTHERS": "1" if wait else "0",
            "TRIAL_SECONDS": str(trial_seconds),
        }
        process = subprocess.Popen(
            [sys.executable, str(script), url, study, str(budget), str(markers)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return Worker(process, markers)

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def nerp_command() -> list[str]:
    """The ``nerp`` console script of this environment."""
    script = Path(sys.executable).with_name("nerp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nerp_infra.cli"]


@pytest.fixture
def nerp_cli() -> list[str]:
    return nerp_command()
