"""nerp-hpo: Optuna studies with k-fold CV, pruning, refit, and resumable, distributed workers.

The public names below are imported on first use: the ``nerp`` CLI imports this package
to find the ``hpo`` command, and should not pay for importing Optuna to do so.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from nerp_infra.deprecation import lazy_names

__version__ = _version("nerp-hpo")

if TYPE_CHECKING:
    from nerp_hpo.errors import HpoError, SearchSpaceError, StudyNotFoundError
    from nerp_hpo.objective import CvObjective
    from nerp_hpo.plan import STUDY_KIND, StudyOutcome, StudyPlan, plan_study
    from nerp_hpo.pruners import BanditPruner, build_pruner
    from nerp_hpo.reports import StudyReport, best_trial_summary, write_study_report
    from nerp_hpo.samplers import build_sampler
    from nerp_hpo.session import open_study
    from nerp_hpo.single_trial import evaluate_params
    from nerp_hpo.space import build_distributions, suggest_params
    from nerp_hpo.status import StudyStatus, describe_study, studies_status
    from nerp_hpo.storage import default_storage_url, open_storage
    from nerp_hpo.study import find_study_artifacts, run_studies, run_study
    from nerp_hpo.sweep import build_sweep_job, plan_sweep, write_sweep_job
    from nerp_hpo.trials import TrialCounts, count_trials, run_trials
    from nerp_hpo.workers import run_worker

_EXPORTS: dict[str, str] = {
    "HpoError": "nerp_hpo.errors",
    "SearchSpaceError": "nerp_hpo.errors",
    "StudyNotFoundError": "nerp_hpo.errors",
    "CvObjective": "nerp_hpo.objective",
    "BanditPruner": "nerp_hpo.pruners",
    "build_pruner": "nerp_hpo.pruners",
    "StudyReport": "nerp_hpo.reports",
    "best_trial_summary": "nerp_hpo.reports",
    "write_study_report": "nerp_hpo.reports",
    "build_sampler": "nerp_hpo.samplers",
    "evaluate_params": "nerp_hpo.single_trial",
    "build_distributions": "nerp_hpo.space",
    "suggest_params": "nerp_hpo.space",
    "StudyStatus": "nerp_hpo.status",
    "describe_study": "nerp_hpo.status",
    "studies_status": "nerp_hpo.status",
    "default_storage_url": "nerp_hpo.storage",
    "open_storage": "nerp_hpo.storage",
    "STUDY_KIND": "nerp_hpo.plan",
    "StudyOutcome": "nerp_hpo.plan",
    "StudyPlan": "nerp_hpo.plan",
    "find_study_artifacts": "nerp_hpo.study",
    "open_study": "nerp_hpo.session",
    "plan_study": "nerp_hpo.plan",
    "run_studies": "nerp_hpo.study",
    "run_study": "nerp_hpo.study",
    "run_worker": "nerp_hpo.workers",
    "build_sweep_job": "nerp_hpo.sweep",
    "plan_sweep": "nerp_hpo.sweep",
    "write_sweep_job": "nerp_hpo.sweep",
    "TrialCounts": "nerp_hpo.trials",
    "count_trials": "nerp_hpo.trials",
    "run_trials": "nerp_hpo.trials",
}

__all__ = [
    "STUDY_KIND",
    "BanditPruner",
    "CvObjective",
    "HpoError",
    "SearchSpaceError",
    "StudyNotFoundError",
    "StudyOutcome",
    "StudyPlan",
    "StudyReport",
    "StudyStatus",
    "TrialCounts",
    "__version__",
    "best_trial_summary",
    "build_distributions",
    "build_pruner",
    "build_sampler",
    "build_sweep_job",
    "count_trials",
    "default_storage_url",
    "describe_study",
    "evaluate_params",
    "find_study_artifacts",
    "open_storage",
    "open_study",
    "plan_study",
    "plan_sweep",
    "run_studies",
    "run_study",
    "run_trials",
    "run_worker",
    "studies_status",
    "suggest_params",
    "write_study_report",
    "write_sweep_job",
]


__getattr__ = lazy_names(__name__, _EXPORTS)
