"""The final training workflow behind ``nerp train`` and the pipeline's ``train`` stage."""

from nerp_infra.deprecation import deprecated_names
from nerp_training.final.sources import (
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
    "HISTORY_FILE",
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
    names={
        "backbone_component": "nerp_infra.paths:backbone_component",
        "FINAL_STAGE": "nerp_infra.artifacts.kinds:FINAL_TRAINING_STAGE",
        "MODEL_KIND": "nerp_infra.artifacts.kinds:MODEL_KIND",
        "SELECTION_KIND": "nerp_infra.artifacts.kinds:SELECTION_KIND",
    },
)
