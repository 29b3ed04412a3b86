"""Running trials against a shared study: budget, dead workers, retries.

The budget of a study is a total, not a per-process count: ``n_trials`` finished trials
(COMPLETE or PRUNED; failed ones do not count) however many processes ran them and
however often the study was resumed. Each process loops: reap trials of dead workers,
count, and run one more trial while the budget is not covered. Two processes can still
start a trial at the same moment; the trial with the higher number then sees the budget
covered by the trials numbered before it (finished, running or queued) and stands down
(it is recorded FAIL with ``nerp_skipped``), so the total is exact.

A trial left RUNNING by a dead process is failed and queued again with the same
parameters (up to :data:`MAX_RETRIES` times):

- on this host, at once: every trial records its worker's ``host:pid`` and a process
  that is gone cannot be working on it (this also covers journal storages, which have no
  heartbeat);
- anywhere, after :data:`UNCLAIMED_GRACE_S`: a trial that never got a worker token (its
  process was killed between Optuna creating it and the token's write);
- anywhere, by Optuna's heartbeat on database storages: a trial whose worker stopped
  beating for the grace period is failed by the next process that asks for a trial.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState

from nerp_hpo.errors import HpoError
from nerp_infra.artifacts.runs import owner_is_stale, owner_token

__all__ = [
    "ERROR_ATTR",
    "FINISHED_STATES",
    "MAX_CONSECUTIVE_FAILURES",
    "MAX_RETRIES",
    "RETRY_OF_ATTR",
    "SKIPPED_ATTR",
    "UNCLAIMED_GRACE_S",
    "WORKER_ATTR",
    "BudgetReached",
    "TrialCallback",
    "TrialCounts",
    "count_trials",
    "fail_orphaned_trials",
    "reap_stale_trials",
    "retry_trial",
    "run_trials",
    "trials_ahead",
]

logger = logging.getLogger("nerp_hpo")

WORKER_ATTR = "nerp_worker"
"""User attribute: ``host:pid`` of the process running the trial."""
UNCLAIMED_GRACE_S = 60.0
"""Seconds a RUNNING trial may stay without a worker token before it counts as orphaned."""
SKIPPED_ATTR = "nerp_skipped"
"""User attribute of a trial that stood down because the budget was covered."""
ERROR_ATTR = "nerp_error"
"""User attribute: the exception a failed trial raised."""
RETRY_OF_ATTR = "nerp_retry_of"
"""User attribute: number of the failed trial this one repeats."""

FINISHED_STATES: tuple[TrialState, ...] = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_RETRIES = 2
MAX_CONSECUTIVE_FAILURES = 3
_POLL_S = 2.0

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class BudgetReached(Exception):
    """Raised inside a trial that would go over the study's budget (see module doc)."""


@dataclass(frozen=True)
class TrialCounts:
    """Trials of a study by state; ``skipped`` FAIL trials are not counted as ``failed``."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    skipped: int = 0

    @property
    def finished(self) -> int:
        """What the budget counts: complete plus pruned trials."""
        return self.complete + self.pruned


def count_trials(study: optuna.Study) -> TrialCounts:
    counts = dict.fromkeys(("complete", "pruned", "failed", "running", "waiting", "skipped"), 0)
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.COMPLETE:
            counts["complete"] += 1
        elif trial.state == TrialState.PRUNED:
            counts["pruned"] += 1
        elif trial.state == TrialState.RUNNING:
            counts["running"] += 1
        elif trial.state == TrialState.WAITING:
            counts["waiting"] += 1
        elif trial.user_attrs.get(SKIPPED_ATTR):
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
    return TrialCounts(**counts)


def trials_ahead(study: optuna.Study, number: int) -> int:
    """Trials numbered before ``number`` that finished, run or wait to run."""
    live = (*FINISHED_STATES, TrialState.RUNNING, TrialState.WAITING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=live) if t.number < number)


def retry_trial(
    study: optuna.Study, trial: FrozenTrial, *, max_retries: int = MAX_RETRIES
) -> int | None:
    """Queue a failed trial's parameters again; returns the failed trial's number, or
    None when its retries are used up.

    Usable as RDBStorage's ``heartbeat_stale_trial_callback``. Unlike Optuna's
    RetryHeartbeatStaleTrialCallback it does not copy the user attributes, so the retry
    does not inherit the dead worker's token (or its partial fold scores).
    """
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retries:
        logger.warning(
            "trial %d failed and was retried %d times already; not retrying it again",
            trial.number,
            max_retries,
        )
        return None
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={RETRY_OF_ATTR: trial.number},
            system_attrs={"failed_trial": history[0], "retry_history": history},
        )
    )
    logger.info("trial %d was left running by a dead worker; queued it again", trial.number)
    return trial.number


def _unclaimed_for(trial: FrozenTrial, grace_s: float) -> bool:
    """No worker token, and started more than ``grace_s`` ago.

    A worker writes its token as the first thing its trial does, so a trial without one
    after the grace period belongs to a process killed between Optuna creating the trial
    and that write: no token to check and (on database storages) no heartbeat yet, so
    nothing else would ever fail it, and a resumed run would wait for it forever.
    """
    if trial.user_attrs.get(WORKER_ATTR) is not None or trial.datetime_start is None:
        return False
    return (datetime.now() - trial.datetime_start).total_seconds() > grace_s


def fail_orphaned_trials(
    study: optuna.Study, *, retry: bool = True, unclaimed_grace_s: float = UNCLAIMED_GRACE_S
) -> list[int]:
    """Fail RUNNING trials whose worker process (on this host) is gone, or that no worker
    claimed within ``unclaimed_grace_s``; queue retries.

    Returns the numbers of the trials failed here.
    """
    me = owner_token()
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        token = trial.user_attrs.get(WORKER_ATTR)
        if _unclaimed_for(trial, unclaimed_grace_s):
            why = f"no worker claimed it within {unclaimed_grace_s:g} s"
        elif isinstance(token, str) and token != me and owner_is_stale(token):
            why = f"its worker {token} is gone"
        else:
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except (ValueError, RuntimeError):  # another process failed it first
            continue
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
        if frozen.state != TrialState.FAIL:
            continue
        logger.warning("trial %d: %s; marked it failed", trial.number, why)
        failed.append(trial.number)
        if retry:
            retry_trial(study, frozen)
    return failed


def reap_stale_trials(study: optuna.Study) -> list[int]:
    """Fail (and queue again) trials of dead workers: by process id here, unclaimed ones
    after :data:`UNCLAIMED_GRACE_S`, by heartbeat on database storages; returns the numbers
    failed by process id or as unclaimed."""
    failed = fail_orphaned_trials(study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return failed


def _should_start(counts: TrialCounts, budget: int | None) -> bool:
    if budget is None:
        return True
    if counts.waiting:
        return True  # queued retries are part of the budget and must be run
    return counts.finished + counts.running < budget


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    budget: int | None,
    timeout_s: float | None = None,
    callbacks: Sequence[TrialCallback] = (),
    wait_for_others: bool = False,
    poll_s: float = _POLL_S,
    max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES,
) -> TrialCounts:
    """Run trials until the study has ``budget`` finished trials (or ``timeout_s`` passes).

    ``wait_for_others``: when trials of other workers cover the rest of the budget, wait
    for them (and run the retries of any that die) instead of returning; the process
    that refits the best trial needs the final result. A trial that raises is recorded
    FAIL with its error and the study goes on, unless ``max_consecutive_failures`` trials
    of this process fail in a row (then :class:`HpoError`: a broken setup, not a bad
    configuration). Returns the counts at the end.
    """
    me = owner_token()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def guarded(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, me)
        if budget is not None and trials_ahead(study, trial.number) >= budget:
            trial.set_user_attr(SKIPPED_ATTR, True)
            raise BudgetReached(f"budget of {budget} trials is covered by earlier trials")
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}"[:2000])
            raise

    streak: list[str] = []

    def watch(study_: optuna.Study, frozen: FrozenTrial) -> None:
        if frozen.state == TrialState.FAIL and not frozen.user_attrs.get(SKIPPED_ATTR):
            streak.append(str(frozen.user_attrs.get(ERROR_ATTR, "unknown error")))
        elif frozen.state in FINISHED_STATES:
            streak.clear()

    def user_callbacks(study_: optuna.Study, frozen: FrozenTrial) -> None:
        if frozen.user_attrs.get(SKIPPED_ATTR):
            return
        for callback in callbacks:
            callback(study_, frozen)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        while True:
            reap_stale_trials(study)
            counts = count_trials(study)
            if budget is not None and counts.finished >= budget:
                return counts
            if deadline is not None and time.monotonic() >= deadline:
                return counts
            if _should_start(counts, budget):
                study.optimize(
                    guarded,
                    n_trials=1,
                    callbacks=[watch, user_callbacks],
                    catch=(Exception,),
                    gc_after_trial=True,
                )
                if len(streak) >= max_consecutive_failures:
                    raise HpoError(
                        f"study {study.study_name}: {len(streak)} trials in a row failed; "
                        f"last error: {streak[-1]}"
                    )
                continue
            if not wait_for_others or counts.running == 0:
                return counts
            time.sleep(poll_s)
