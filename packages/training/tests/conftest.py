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
