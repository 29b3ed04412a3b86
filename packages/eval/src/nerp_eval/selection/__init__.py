"""Champion selection across HPO studies and backbones: stable scores, measured latency,
a documented accuracy/latency trade-off."""

from nerp_eval.selection.decide import (
    Candidate,
    Decision,
    GroupScore,
    champion_per_backbone,
    decide,
    score_group,
    stable_score,
)
from nerp_eval.selection.run import (
    SELECTION_KIND,
    SelectionRun,
    champion_params,
    run_selection,
)
from nerp_eval.selection.studies import (
    StudyRecord,
    TrialRecord,
    find_studies,
    read_trials,
    study_record,
)

__all__ = [
    "SELECTION_KIND",
    "Candidate",
    "Decision",
    "GroupScore",
    "SelectionRun",
    "StudyRecord",
    "TrialRecord",
    "champion_params",
    "champion_per_backbone",
    "decide",
    "find_studies",
    "read_trials",
    "run_selection",
    "score_group",
    "stable_score",
    "study_record",
]
