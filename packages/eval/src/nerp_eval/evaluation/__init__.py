"""Strict entity-level evaluation of a checkpoint or ONNX package on whole documents."""

from nerp_eval.evaluation.errors import ERROR_CLASSES, EntityError, ErrorAnalysis, analyse_errors
from nerp_eval.evaluation.run import (
    EVALUATION_KIND,
    EvaluationData,
    EvaluationResult,
    EvaluationRun,
    evaluate_documents,
    run_evaluation,
)
from nerp_eval.evaluation.scoring import ScoredDocument, predict_and_align

__all__ = [
    "ERROR_CLASSES",
    "EVALUATION_KIND",
    "EntityError",
    "ErrorAnalysis",
    "EvaluationData",
    "EvaluationResult",
    "EvaluationRun",
    "ScoredDocument",
    "analyse_errors",
    "evaluate_documents",
    "predict_and_align",
    "run_evaluation",
]
