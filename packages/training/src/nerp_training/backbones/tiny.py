"""The ``tiny`` backbone: a small random BERT with a WordPiece vocabulary from the data.

It exists so the whole pipeline (training, HPO, conversion, serving) runs offline and
fast on a laptop CPU and in tests. Its tokenizer is built from the training texts, so it
must be saved with the model (the trainer saves both). The vocabulary and the backend
tokenizer are :mod:`nerp_infra.wordpiece`'s (shared with nerp-deploy's toy checkpoint);
this module wraps them for transformers and sizes the BERT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nerp_infra import wordpiece
from nerp_infra.deprecation import deprecated_names

if TYPE_CHECKING:  # transformers is imported where used: the WordPiece part needs none of it
    from transformers import BertConfig, PreTrainedTokenizerFast

__all__ = [
    "TinySettings",
    "TinyShape",
    "tiny_bert_config",
    "train_tiny_tokenizer",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "SPECIAL_TOKENS": "nerp_infra.wordpiece:SPECIAL_TOKENS",
        "resume_pre_tokenizer": "nerp_infra.wordpiece:resume_pre_tokenizer",
        "tiny_wordpiece": "nerp_infra.wordpiece:tiny_wordpiece",
    },
)


class TinyShape(Protocol):
    """Anything with the tiny model's sizes, e.g. nerp_infra's ``model.tiny`` config."""

    @property
    def hidden_size(self) -> int: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def num_heads(self) -> int: ...
    @property
    def intermediate_size(self) -> int: ...


@dataclass(frozen=True)
class TinySettings:
    """Sizes of the tiny BERT; small enough that a training step takes milliseconds."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128


def train_tiny_tokenizer(
    texts: Iterable[str], *, vocab_size: int, max_length: int
) -> PreTrainedTokenizerFast:
    """:func:`nerp_infra.wordpiece.tiny_wordpiece` wrapped as a transformers fast
    tokenizer for ``max_length``."""
    from transformers import PreTrainedTokenizerFast

    if max_length < 3:
        raise ValueError(f"max_length {max_length} must leave room for [CLS], [SEP] and a token")
    return PreTrainedTokenizerFast(
        tokenizer_object=wordpiece.tiny_wordpiece(texts, vocab_size=vocab_size),
        model_max_length=max_length,
        **wordpiece.TOKEN_ROLES,
    )


def tiny_bert_config(
    shape: TinyShape,
    *,
    vocab_size: int,
    pad_token_id: int,
    max_length: int,
    dropout: float,
    labels: list[str],
) -> BertConfig:
    """A BertConfig for token classification sized by ``shape``, with every dropout set."""
    from transformers import BertConfig

    if shape.hidden_size % shape.num_heads:
        raise ValueError(
            f"model.tiny.hidden_size {shape.hidden_size} must be a multiple of "
            f"model.tiny.num_heads {shape.num_heads}"
        )
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=max_length,
        pad_token_id=pad_token_id,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        classifier_dropout=dropout,
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
    )
