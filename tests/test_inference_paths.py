"""A trained checkpoint scored and served through the product's own inference path.

Training validates each epoch with ``nerp_training.trainer.evaluation`` (windows, Viterbi,
max-context merging in the Trainer's loop); every later consumer of the checkpoint reads it
through nerp-deploy's ``Predictor`` (PyTorch via ``nerp_deploy.convert.torch_predictor``,
ONNX via the engine) and nerp-eval's scorer. The two must agree figure for figure, or the
validation F1 that picks the best epoch is not the F1 of the model users get.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from nerp_deploy.convert import torch_predictor
from nerp_eval.evaluation import evaluate_documents
from nerp_eval.targets import resolve_target
from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document
from nerp_infra.model_files import read_inference_settings
from nerp_training.data import SYNTH_LABELS, synthesize_resumes
from nerp_training.trainer import TrainingResult, train_model


@dataclass(frozen=True)
class Trained:
    result: TrainingResult
    model_dir: Path
    eval_docs: list[Document]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A tiny BERT trained for real (fp32, windows of 96 tokens so resumes span several)."""
    resumes = synthesize_resumes(96, seed=7)
    eval_docs = resumes[80:]
    result = train_model(
        train_docs=resumes[:80],
        eval_docs=eval_docs,
        entity_types=list(SYNTH_LABELS),
        model_config=ModelConfig.model_validate(
            {
                "backbone": "tiny",
                "max_length": 96,
                "stride": 16,
                "tiny": {
                    "hidden_size": 48,
                    "num_layers": 2,
                    "num_heads": 2,
                    "intermediate_size": 96,
                    "vocab_size": 1500,
                },
            }
        ),
        train_config=TrainConfig(
            epochs=3,
            batch_size=16,
            learning_rate=3e-3,
            warmup_ratio=0.1,
            early_stopping_patience=None,
            seed=7,
            precision="fp32",  # the served model runs in fp32: compare like with like
        ),
        output_dir=tmp_path_factory.mktemp("trained"),
        progress=False,
    )
    assert result.model_dir is not None
    return Trained(result, result.model_dir, eval_docs)


def test_served_scores_are_the_training_validation_scores(trained: Trained) -> None:
    """nerp-eval on the PyTorch checkpoint reproduces the kept epoch's validation metrics."""
    assert trained.result.metrics["f1_micro"] > 0.3, "the model must have learned something"
    scored = evaluate_documents(resolve_target(trained.model_dir), trained.eval_docs, batch_size=7)
    flat = scored.metrics.as_flat_dict()
    for name, value in trained.result.metrics.items():
        assert flat[name] == pytest.approx(value, abs=1e-9), name


def test_predictions_point_into_the_text(trained: Trained) -> None:
    predictor = torch_predictor(trained.model_dir, read_inference_settings(trained.model_dir))
    docs = trained.eval_docs[:4]
    predicted = predictor.predict_batch([doc.text for doc in docs])
    assert len(predicted) == len(docs)
    assert sum(len(entities) for entities in predicted) > 10
    for doc, entities in zip(docs, predicted, strict=True):
        for entity in entities:
            assert doc.text[entity.start : entity.end] == entity.text
            assert entity.label in SYNTH_LABELS
            assert 0.0 < entity.confidence <= 1.0
    gold = {s.as_tuple() for s in docs[0].spans}
    assert gold & {(e.start, e.end, e.label) for e in predicted[0]}
    assert predictor.predict_batch(["", "   "]) == [[], []]
