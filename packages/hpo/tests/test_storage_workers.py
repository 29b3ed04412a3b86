"""Storage URLs, the total trial budget, killed and frozen workers, and shared studies.

A cheap real objective keeps these fast: what is under test is the storage, the budget
and the recovery of dead workers, which do not depend on what a trial computes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nerp_hpo.errors import HpoError
from nerp_hpo.storage import default_storage_url, open_storage, redact_url
from nerp_hpo.trials import (
    RETRY_OF_ATTR,
    SKIPPED_ATTR,
    WORKER_ATTR,
    count_trials,
    fail_orphaned_trials,
    retry_trial,
    run_trials,
)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    return -((x - 0.5) ** 2)


def _new_study(url: str, name: str = "s") -> optuna.Study:
    return optuna.create_study(study_name=name, storage=open_storage(url), direction="maximize")


def _states(study: optuna.Study) -> list[TrialState]:
    return [t.state for t in study.get_trials(deepcopy=False)]


def test_default_storage_is_a_sqlite_file_inside_the_study_artifact(tmp_path: Path) -> None:
    url = default_storage_url(tmp_path / "study")
    assert url == f"sqlite:///{(tmp_path / 'study' / 'optuna.db').as_posix()}"
    study = _new_study(url)
    study.optimize(_objective, n_trials=2)
    assert (tmp_path / "study" / "optuna.db").is_file()
    reopened = optuna.load_study(study_name="s", storage=open_storage(url))
    assert len(reopened.trials) == 2


def test_journal_storage_keeps_trials_across_processes_opening_it(tmp_path: Path) -> None:
    url = f"journal:///{(tmp_path / 'logs' / 'study.log').as_posix().lstrip('/')}"
    study = _new_study(url)
    run_trials(study, _objective, budget=3)
    again = optuna.load_study(study_name="s", storage=open_storage(url))
    assert count_trials(again).complete == 3
    assert (tmp_path / "logs" / "study.log").is_file()


def test_bad_storage_urls_are_clear_errors_without_passwords() -> None:
    with pytest.raises(HpoError, match="not a sqlite:///"):
        open_storage("redis://localhost/0")
    with pytest.raises(HpoError, match=r"\*\*\*") as info:
        open_storage("postgresql+psycopg://nerp:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(info.value)
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_postgresql_url_without_driver_uses_psycopg3(postgres_url: str, unique_study: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    study = _new_study(plain, unique_study)
    study.optimize(_objective, n_trials=1)
    assert count_trials(optuna.load_study(study_name=unique_study, storage=postgres_url)).complete


def test_resume_runs_to_the_total_budget_not_budget_plus_n(tmp_path: Path) -> None:
    url = default_storage_url(tmp_path)
    study = _new_study(url)
    assert run_trials(study, _objective, budget=3).complete == 3
    assert run_trials(study, _objective, budget=3).complete == 3  # nothing left to do
    assert len(study.trials) == 3
    pruned = _new_study(url, "with-pruned")

    def sometimes_pruned(trial: optuna.Trial) -> float:
        if trial.number % 2:
            raise optuna.TrialPruned()
        return _objective(trial)

    counts = run_trials(pruned, sometimes_pruned, budget=4)
    assert (counts.complete, counts.pruned) == (2, 2)  # pruned trials count toward the budget
    assert run_trials(study, _objective, budget=5).complete == 5


def test_timeout_ends_a_run_before_its_budget(tmp_path: Path) -> None:
    study = _new_study(default_storage_url(tmp_path))

    def slow(trial: optuna.Trial) -> float:
        time.sleep(0.4)
        return _objective(trial)

    counts = run_trials(study, slow, budget=50, timeout_s=1.0)
    assert 1 <= counts.complete < 5
    assert run_trials(study, slow, budget=counts.complete + 1).complete == counts.complete + 1


def test_failing_trials_are_recorded_and_a_broken_setup_stops(tmp_path: Path) -> None:
    study = _new_study(default_storage_url(tmp_path))
    calls = {"n": 0}

    def flaky(trial: optuna.Trial) -> float:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("loss is nan")
        return _objective(trial)

    counts = run_trials(study, flaky, budget=3)
    assert (counts.complete, counts.failed) == (3, 1)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed[0].user_attrs["nerp_error"] == "ValueError: loss is nan"

    broken = _new_study(default_storage_url(tmp_path), "broken")

    def always(trial: optuna.Trial) -> float:
        raise RuntimeError("CUDA is not available")

    with pytest.raises(HpoError, match="3 trials in a row failed; last error: RuntimeError: CUDA"):
        run_trials(broken, always, budget=10)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_worker_killed_mid_trial_is_failed_retried_and_the_budget_is_exact(
    tmp_path: Path, spawn_worker: Callable[..., Any], kind: str
) -> None:
    url = (
        default_storage_url(tmp_path)
        if kind == "sqlite"
        else f"journal:///{(tmp_path / 'study.log').as_posix().lstrip('/')}"
    )
    _new_study(url)
    killed = spawn_worker(url, "s", 4, hold_at=2)
    held = killed.wait_holding()
    os.kill(killed.pid, signal.SIGKILL)
    killed.process.wait()

    study = optuna.load_study(study_name="s", storage=open_storage(url))
    assert study.trials[held].state == TrialState.RUNNING  # left behind by the dead process
    resumed = spawn_worker(url, "s", 4)
    assert "done 4 0 1" in resumed.finish()

    study = optuna.load_study(study_name="s", storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    assert count_trials(study).complete == 4
    assert trials[held].state == TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF_ATTR) == held]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[held].params  # the same configuration, run again
    assert retries[0].user_attrs[WORKER_ATTR].endswith(f":{resumed.pid}")


def test_a_trial_killed_before_its_worker_claimed_it_is_failed_after_the_grace(
    tmp_path: Path,
) -> None:
    # A process killed between Optuna creating the trial and the worker token's write
    # leaves a RUNNING trial with no token and no heartbeat: a resumed pipeline waited
    # for it forever (seen in the end-to-end test's kill -9).
    study = _new_study(default_storage_url(tmp_path))
    study.optimize(_objective, n_trials=1)
    orphan = study.ask()  # RUNNING, never claimed
    assert fail_orphaned_trials(study) == []  # young: its worker may be about to claim it
    assert _states(study) == [TrialState.COMPLETE, TrialState.RUNNING]

    time.sleep(0.05)
    assert fail_orphaned_trials(study, unclaimed_grace_s=0.01) == [orphan.number]
    trials = study.get_trials(deepcopy=False)
    assert trials[orphan.number].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF_ATTR) == orphan.number]
    assert retry.state == TrialState.WAITING

    counts = run_trials(study, _objective, budget=2, wait_for_others=True)
    assert counts.complete == 2  # the retry ran here; nothing left to wait for


def test_a_frozen_worker_loses_its_trial_to_the_heartbeat(
    tmp_path: Path, spawn_worker: Callable[..., Any]
) -> None:
    url = default_storage_url(tmp_path)
    _new_study(url)
    frozen = spawn_worker(url, "s", 3, hold_at=1, heartbeat=1)
    held = frozen.wait_holding()
    os.kill(frozen.pid, signal.SIGSTOP)  # alive (its pid exists) but silent
    try:
        storage = open_storage(url, heartbeat_interval_s=1, stale_trial_callback=retry_trial)
        study = optuna.load_study(study_name="s", storage=storage)
        started = time.monotonic()
        counts = run_trials(study, _objective, budget=3, wait_for_others=True, poll_s=0.2)
        waited = time.monotonic() - started
    finally:
        os.kill(frozen.pid, signal.SIGKILL)
        frozen.process.wait()
    assert counts.complete == 3
    trials = study.get_trials(deepcopy=False)
    assert trials[held].state == TrialState.FAIL
    assert any(t.user_attrs.get(RETRY_OF_ATTR) == held for t in trials)
    assert waited >= 1.0  # it waited for the grace period instead of failing a live beat


def test_two_workers_share_one_postgresql_study_without_duplicates(
    postgres_url: str, unique_study: str, spawn_worker: Callable[..., Any]
) -> None:
    _new_study(postgres_url, unique_study)
    budget = 8
    workers = [
        spawn_worker(postgres_url, unique_study, budget, trial_seconds=0.4) for _ in range(2)
    ]
    for worker in workers:
        worker.finish()
    study = optuna.load_study(study_name=unique_study, storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == budget
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    assert all(t.user_attrs.get(SKIPPED_ATTR) for t in trials if t.state == TrialState.FAIL)
    by_worker = {t.user_attrs[WORKER_ATTR] for t in complete}
    assert by_worker == {f"{os.uname().nodename}:{w.pid}" for w in workers}
    starts = [p.name for p in workers[0].markers.iterdir() if p.name.startswith("start-")]
    numbers = [int(name.split("-")[1]) for name in starts]
    assert sorted(numbers) == sorted(t.number for t in complete)  # each trial ran once
    assert len({round(t.params["x"], 12) for t in complete}) == budget  # no repeated draws


def test_a_study_folder_restored_under_another_root_uses_its_own_database(
    tmp_path: Path, tiny_experiment: Callable[..., Any]
) -> None:
    from nerp_hpo.plan import storage_for

    config = tiny_experiment()
    moved = tmp_path / "laptop" / "hpo" / "tiny" / "k" / "v1"
    moved.mkdir(parents=True)
    _new_study(default_storage_url(moved))  # the restored optuna.db
    colab = {"storage_url_full": "sqlite:////content/drive/outputs/hpo/tiny/k/v1/optuna.db"}
    assert storage_for(config, colab, moved) == default_storage_url(moved)

    server = {"storage_url_full": "postgresql+psycopg://u@db:5432/optuna"}
    assert storage_for(config, server, moved) == server["storage_url_full"]
    elsewhere = tmp_path / "shared.db"
    _new_study(f"sqlite:///{elsewhere}")
    kept = {"storage_url_full": f"sqlite:///{elsewhere}"}
    assert storage_for(config, kept, moved) == kept["storage_url_full"]
