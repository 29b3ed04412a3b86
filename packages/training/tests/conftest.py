"""Shared fixtures of the nerp-training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# --- data layer (nerp_training.data) ---------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """Hand-made files for every importer format (see fixtures/README.md)."""
    return FIXTURES


@pytest.fixture(scope="session")
def wordpiece_tokenizer() -> Any:
    """A small WordPiece tokenizer trained on the fly (no hub download).

    Its vocabulary holds whole words such as ``engineer`` and ``acme``, so a span that
    ends inside one of them does not end on a token boundary.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    corpus = ["Senior engineer at Acme in Austin, Python and SQL."] * 50
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


# --- training (alignment, trainer, final training) -------------------------------------


@pytest.fixture(scope="session")
def resumes() -> list[Any]:
    """96 synthetic resumes (several windows each at the tiny window size)."""
    from nerp_training.data import synthesize_resumes

    return synthesize_resumes(96, seed=7)


@pytest.fixture(scope="session")
def tiny_model_config() -> Any:
    """A tiny random BERT and a window small enough that resumes span several windows."""
    from nerp_infra.config import ModelConfig

    return ModelConfig.model_validate(
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
    )


@pytest.fixture(scope="session")
def quick_train_config() -> Any:
    """Few epochs, a high learning rate: the tiny model learns visibly in seconds."""
    from nerp_infra.config import TrainConfig

    return TrainConfig(
        epochs=3,
        batch_size=16,
        learning_rate=3e-3,
        warmup_ratio=0.1,
        early_stopping_patience=None,
        seed=7,
        # fp32 everywhere: `auto` is bf16 on CPUs with bf16 units, and tests compare the
        # Trainer's evaluation with fp32 inference figure for figure
        precision="fp32",
    )


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite tracking store for the session (creating one costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


FINAL_EXPERIMENT_OVERRIDES = (
    "data.synthetic.n_documents=48",
    "model.max_length=64",
    "model.stride=8",
    "model.tiny.hidden_size=32",
    "model.tiny.intermediate_size=64",
    "model.tiny.vocab_size=800",
    "train.epochs=2",
    "train.batch_size=8",
    "train.learning_rate=3e-3",
    "train.early_stopping_patience=null",
    "final_training.source=scratch",
    "final_training.train_on_validation=false",
)
"""``--set`` overrides that make the shipped experiment train in seconds."""


@pytest.fixture(scope="session")
def final_overrides() -> tuple[str, ...]:
    return FINAL_EXPERIMENT_OVERRIDES


@pytest.fixture(scope="session")
def final_experiment(mlflow_uri: str) -> Any:
    """``load_experiment`` with the quick overrides (plus any given) and the session MLflow."""
    from nerp_infra.config import load_experiment

    def load(*extra: str) -> Any:
        return load_experiment(
            None, [*FINAL_EXPERIMENT_OVERRIDES, f"tracking.uri={mlflow_uri}", *extra]
        )

    return load
