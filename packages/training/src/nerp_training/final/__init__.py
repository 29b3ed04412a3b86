"""The final training workflow behind ``nerp train`` and the pipeline's ``train`` stage."""

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
    backbone_component,
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
    "backbone_component",
    "plan_training",
    "read_champion",
    "run_final_training",
]
