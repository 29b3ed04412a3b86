"""Turn a :class:`BackboneSpec` into a fast tokenizer and a token-classification model.

Loading never falls back to another model: a backbone that cannot be loaded raises
:class:`BackboneError` with its install hint, because a silently substituted model
would make every result and fingerprint downstream a lie.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import torch
from tokenizers import AddedToken
from transformers import (
    AutoConfig,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from nerp_training.backbones.minilm import minilm_model_dir
from nerp_training.backbones.registry import BackboneError, BackboneSpec
from nerp_training.backbones.tiny import TinySettings, TinyShape, tiny_bert_config
from nerp_training.backbones.tiny import train_tiny_tokenizer as _train_tiny_tokenizer

__all__ = [
    "DROPOUT_ATTRIBUTES",
    "LINE_BREAK",
    "add_line_break_token",
    "apply_dropout",
    "build_model",
    "build_tokenizer",
    "hub_offline",
    "locate_backbone",
]

LINE_BREAK = "\n"
"""The character that ``model.line_breaks`` turns into a token of its own."""

DROPOUT_ATTRIBUTES: tuple[str, ...] = (
    "hidden_dropout_prob",  # BERT, RoBERTa, DeBERTa: embeddings, layers, token head
    "attention_probs_dropout_prob",  # BERT, RoBERTa, DeBERTa: attention weights
    "classifier_dropout",  # BERT, RoBERTa: token head (None falls back to hidden)
    "dropout",  # DistilBERT: embeddings, layers, token head
    "attention_dropout",  # DistilBERT: attention weights
    "seq_classif_dropout",  # DistilBERT: sequence heads, kept in step
    "pooler_dropout",  # DeBERTa: pooler, kept in step
)
"""Config fields that carry dropout in the families nerp knows; all present are set."""

_TRUE = {"1", "true", "yes", "on"}
_UNBOUNDED_LENGTH = 1_000_000


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE is set now (read per call, unlike huggingface_hub's
    import-time constant, so a test or a user flipping it later is respected)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def locate_backbone(spec: BackboneSpec) -> str:
    """What to pass to ``from_pretrained``: a hub id or a folder (package files located)."""
    if spec.kind == "package":
        return str(minilm_model_dir())
    if spec.kind == "tiny":
        raise BackboneError(
            "the tiny backbone has no checkpoint to load: it is built by build_tokenizer "
            "and build_model"
        )
    return spec.source


def _load_failure(spec: BackboneSpec, what: str, exc: Exception) -> BackboneError:
    offline = " (HF_HUB_OFFLINE is set, so only the local cache was searched)"
    detail = offline if spec.kind == "hub" and hub_offline() else ""
    return BackboneError(
        f"model.backbone {spec.name!r}: could not load the {what} from {spec.source!r}"
        f"{detail}: {type(exc).__name__}: {exc}\nHow to get it: {spec.install_hint}"
    )


def _local_only(spec: BackboneSpec) -> bool:
    return spec.kind != "hub" or hub_offline()


def build_tokenizer(
    spec: BackboneSpec,
    *,
    texts: Sequence[str] | None = None,
    vocab_size: int = 2000,
    max_length: int = 128,
    line_breaks: bool = False,
) -> PreTrainedTokenizerFast:
    """The backbone's fast tokenizer, with ``model_max_length`` set to the window size.

    ``texts`` and ``vocab_size`` matter only for ``tiny``, whose tokenizer is trained on
    the training texts. A slow (pure Python) tokenizer is refused: labels are aligned
    through character offsets, which only fast tokenizers provide. ``line_breaks`` adds
    the line-break token (:func:`add_line_break_token`).
    """
    if spec.kind == "tiny":
        if texts is None:
            raise ValueError(
                "the tiny backbone trains its tokenizer on the training texts: pass texts"
            )
        tokenizer = _train_tiny_tokenizer(texts, vocab_size=vocab_size, max_length=max_length)
    else:
        source = locate_backbone(spec)
        try:
            loaded = AutoTokenizer.from_pretrained(source, local_files_only=_local_only(spec))
        except (OSError, ValueError) as exc:
            raise _load_failure(spec, "tokenizer", exc) from exc
        tokenizer = _checked_tokenizer(spec, loaded, max_length)
    if line_breaks:
        add_line_break_token(tokenizer)
    return tokenizer


def add_line_break_token(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Make ``"\n"`` a token of its own, matched before normalisation.

    BERT-style normalisers and whitespace pre-tokenizers turn a newline into a plain
    space, so the model cannot see that "B.E. in CSE" and "Atria Institute" sit on two
    lines, nor where a skills list ends and the next heading starts; those are the
    boundaries resume annotations follow. As an added token (not special: it stays in
    the decoded text and carries a tag like any word) it is saved in ``tokenizer.json``,
    so serving, which only runs that file, splits text exactly the same way. Returns
    whether the token was new; the model's embedding table must then grow by one row.
    """
    if LINE_BREAK in tokenizer.get_added_vocab():
        return False
    tokenizer.add_tokens([AddedToken(LINE_BREAK, normalized=False, special=False)])
    return True


def _checked_tokenizer(
    spec: BackboneSpec, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> PreTrainedTokenizerFast:
    if not isinstance(tokenizer, PreTrainedTokenizerFast) or not tokenizer.is_fast:
        raise BackboneError(
            f"model.backbone {spec.name!r}: its tokenizer ({type(tokenizer).__name__}) is not "
            "a fast tokenizer; nerp needs one (tokenizer.json) for character offsets"
        )
    limit = tokenizer.model_max_length
    if limit < _UNBOUNDED_LENGTH and max_length > limit:
        raise BackboneError(
            f"model.max_length {max_length} exceeds what backbone {spec.name!r} supports "
            f"({limit} tokens); lower model.max_length"
        )
    tokenizer.model_max_length = max_length
    return tokenizer


def _checked_labels(labels: Iterable[str]) -> list[str]:
    names = list(labels)
    if not names:
        raise ValueError("labels is empty: a token classifier needs at least one label")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(f"labels[{index}] is {name!r}, expected a non-empty string")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"labels holds duplicates: {', '.join(duplicates)}")
    return names


ATTENTION_DROPOUT_ATTRIBUTES: frozenset[str] = frozenset(
    {"attention_probs_dropout_prob", "attention_dropout"}
)


def apply_dropout(
    config: PretrainedConfig, dropout: float, attention_dropout: float | None = None
) -> list[str]:
    """Set every dropout field the config's family has; return the fields set.

    ``attention_dropout`` (default: ``dropout``) goes to the attention-weight fields:
    with 0 there, PyTorch's fused scaled-dot-product attention replaces the unfused
    kernel that dropout on attention weights forces.
    Raises BackboneError for a family with none of the known fields, so training.dropout
    can never be silently ignored.
    """
    for name, value in (("dropout", dropout), ("attention_dropout", attention_dropout)):
        if value is not None and not 0.0 <= value < 1.0:
            raise ValueError(f"train.{name} {value} must be in [0, 1)")
    present = [name for name in DROPOUT_ATTRIBUTES if hasattr(config, name)]
    if not present:
        raise BackboneError(
            f"model type {config.model_type!r} has none of the dropout fields nerp knows "
            f"({', '.join(DROPOUT_ATTRIBUTES)}), so training.dropout cannot be applied"
        )
    for name in present:
        attention = name in ATTENTION_DROPOUT_ATTRIBUTES and attention_dropout is not None
        setattr(config, name, attention_dropout if attention else dropout)
    return present


def build_model(
    spec: BackboneSpec,
    *,
    labels: Iterable[str],
    tokenizer: PreTrainedTokenizerBase,
    dropout: float = 0.1,
    attention_dropout: float | None = None,
    tiny: TinyShape | None = None,
    max_length: int | None = None,
    seed: int = 0,
    reinit_layers: int = 0,
) -> PreTrainedModel:
    """A token-classification model with ``labels`` as its classes and dropout applied.

    ``labels`` is a ``nerp_infra.labels`` LabelScheme or its ordered tag list (id =
    position); it becomes the config's ``id2label`` / ``label2id``. ``max_length``
    defaults to the tokenizer's ``model_max_length`` (set by :func:`build_tokenizer`).
    Weight initialisation (the whole tiny model, the new head of a pretrained one) uses
    ``seed`` in a forked RNG, so the result is reproducible without disturbing the
    caller's random state. ``reinit_layers`` top transformer layers of a pretrained
    backbone start afresh (drawn the way the backbone initialises them); the tiny
    backbone is random already and ignores it.
    """
    names = _checked_labels(labels)
    if max_length is None:
        max_length = tokenizer.model_max_length
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"training.dropout {dropout} must be in [0, 1)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.kind == "tiny":
            shape = tiny or TinySettings()
            return _build_tiny(names, tokenizer, dropout, attention_dropout, shape, max_length)
        model = _build_pretrained(spec, names, tokenizer, dropout, attention_dropout, max_length)
        _reinit_top_layers(model, reinit_layers, spec)
        return model


def _build_tiny(
    labels: list[str],
    tokenizer: PreTrainedTokenizerBase,
    dropout: float,
    attention_dropout: float | None,
    shape: TinyShape,
    max_length: int,
) -> PreTrainedModel:
    if tokenizer.pad_token_id is None:
        raise ValueError("the tiny backbone's tokenizer has no [PAD] token")
    config = tiny_bert_config(
        shape,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        max_length=max_length,
        dropout=dropout,
        labels=labels,
    )
    # before the modules are built: they read their dropout rates from the config once
    apply_dropout(config, dropout, attention_dropout)
    model: PreTrainedModel = AutoModelForTokenClassification.from_config(config)
    return model


def _build_pretrained(
    spec: BackboneSpec,
    labels: list[str],
    tokenizer: PreTrainedTokenizerBase,
    dropout: float,
    attention_dropout: float | None,
    max_length: int,
) -> PreTrainedModel:
    source = locate_backbone(spec)
    local_only = _local_only(spec)
    try:
        config = AutoConfig.from_pretrained(
            source,
            local_files_only=local_only,
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
        )
    except (OSError, ValueError) as exc:
        raise _load_failure(spec, "model config", exc) from exc
    apply_dropout(config, dropout, attention_dropout)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_length > positions:
        raise BackboneError(
            f"model.max_length {max_length} exceeds backbone {spec.name!r}'s "
            f"{positions} position embeddings; lower model.max_length"
        )
    vocab = getattr(config, "vocab_size", None)
    ours = int(LINE_BREAK in tokenizer.get_added_vocab())  # a row nerp adds, below
    if isinstance(vocab, int) and len(tokenizer) - ours > vocab:
        raise BackboneError(
            f"model.backbone {spec.name!r}: the tokenizer has {len(tokenizer)} tokens but the "
            f"model only {vocab} embeddings; build the tokenizer from the same backbone"
        )
    try:
        model: PreTrainedModel = AutoModelForTokenClassification.from_pretrained(
            source, config=config, local_files_only=local_only, dtype=torch.float32
        )
    except (OSError, ValueError) as exc:
        raise _load_failure(spec, "model weights", exc) from exc
    if isinstance(vocab, int) and len(tokenizer) > vocab:
        # the line-break token's row starts at the mean embedding (HF's mean resizing)
        model.resize_token_embeddings(len(tokenizer))
    return model


def _reinit_top_layers(model: PreTrainedModel, count: int, spec: BackboneSpec) -> None:
    """Re-draw the weights of the backbone's top ``count`` transformer layers.

    The layer stack is found by shape (the module list as long as the config's layer
    count) rather than by a per-family attribute path. The draw is the one BERT-like
    families start from: normal(0, initializer_range) linear weights, zero biases, unit
    LayerNorm. (``PreTrainedModel._init_weights`` would skip the tensors: transformers
    flags loaded weights as initialised.) A model continued with ``init_from`` is not
    built here, so its layers stay as trained.
    """
    if count == 0:
        return
    layers = getattr(model.config, "num_hidden_layers", None) or getattr(
        model.config, "n_layers", None
    )
    stack = next(
        (
            module
            for module in model.base_model.modules()
            if isinstance(module, torch.nn.ModuleList) and len(module) == layers
        ),
        None,
    )
    if stack is None or not isinstance(layers, int):
        raise BackboneError(
            f"train.reinit_layers: cannot find the transformer layers of backbone {spec.name!r}"
        )
    if count > layers:
        raise BackboneError(
            f"train.reinit_layers {count} exceeds the {layers} layers of backbone {spec.name!r}"
        )
    std = float(getattr(model.config, "initializer_range", 0.02))
    with torch.no_grad():
        for layer in list(stack)[layers - count :]:
            for module in layer.modules():
                if isinstance(module, torch.nn.Linear):
                    torch.nn.init.normal_(module.weight, mean=0.0, std=std)
                    if module.bias is not None:
                        torch.nn.init.zeros_(module.bias)
                elif isinstance(module, torch.nn.LayerNorm) and module.elementwise_affine:
                    torch.nn.init.ones_(module.weight)
                    if module.bias is not None:
                        torch.nn.init.zeros_(module.bias)
