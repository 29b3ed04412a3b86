"""The final training workflow behind ``nerp train`` and the pipeline's ``train`` stage."""

from nerp_infra.deprecation import deprecated_names
from nerp_training.final.sources import (
    FINAL_STAGE,
    MODEL_KIND,
    SELECTION_KIND,
    SOURCES,
    Champion,
    FinalTrainingError,
    TrainingPlan,
    plan_training,
    read_champion,
)
from nerp_training.final.workflow import (
    HISTORY_FILE,
    FinalTrainingOutcome,
    run_final_training,
)

__all__ = [
    "FINAL_STAGE",
    "HISTORY_FILE",
    "MODEL_KIND",
    "SELECTION_KIND",
    "SOURCES",
    "Champion",
    "FinalTrainingError",
    "FinalTrainingOutcome",
    "TrainingPlan",
    "plan_training",
    "read_champion",
    "run_final_training",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={"backbone_component": "nerp_infra.paths:backbone_component"},
)
