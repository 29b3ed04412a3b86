"""Model section: which backbone to fine-tune and how documents are windowed for it."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from nerp_infra.config.base import ConfigModel
from nerp_infra.entity_filter import EntityFilter

__all__ = ["BACKBONE_ALIASES", "ModelConfig", "TinyBackboneConfig"]

BACKBONE_ALIASES: tuple[str, ...] = ("tiny", "minilm", "distilbert", "distilroberta", "deberta-v3")
"""Short backbone names the training package maps onto checkpoints; anything else is an
HF model id or a local path."""


class TinyBackboneConfig(ConfigModel):
    """Size of the randomly initialised BERT used by the ``tiny`` backbone (tests, laptops)."""

    hidden_size: int = Field(default=128, ge=1)
    num_layers: int = Field(default=2, ge=1)
    num_heads: int = Field(default=4, ge=1)
    intermediate_size: int = Field(default=256, ge=1)
    vocab_size: int = Field(default=2000, ge=100)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> TinyBackboneConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be a multiple of num_heads {self.num_heads}"
            )
        return self


class ModelConfig(ConfigModel):
    """Backbone, window size and how sub-word tokens get labels."""

    backbone: str = "tiny"
    max_length: int = Field(default=128, ge=8)
    stride: int = Field(default=16, ge=0)
    label_all_subtokens: bool = False
    line_breaks: bool = Field(
        default=True,
        description="give line breaks a token of their own: WordPiece tokenizers treat a "
        "newline as a space, and a resume's lines are where its entities start and end "
        "(false: the backbone's tokenizer as it is)",
    )
    repeat_types: list[str] = Field(
        default_factory=list,
        description="entity types whose every mention gets the label once one mention is "
        "found: the other occurrences of the same text in the document (see "
        "nerp_infra.labels.propagate_repeats); a decoding choice, no retraining",
    )
    merge_types: list[str] = Field(
        default_factory=list,
        description="entity types whose neighbouring entities with only whitespace, commas "
        "or semicolons between them become one (a whole skills list, as DataTurks marks "
        "it; see nerp_infra.labels.merge_lists); a decoding choice, no retraining",
    )
    join_types: list[str] = Field(
        default_factory=list,
        description="entity types whose neighbouring entities with only spaces or tabs "
        "between them (one line) become one: a model that starts a new entity mid-mention "
        "('Senior' | 'Sales Executive') gets the whole mention (see "
        "nerp_infra.labels.join_fragments); applied first, a decoding choice, no retraining",
    )
    min_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="per entity type, the lowest confidence (mean probability of its tags) "
        "a decoded entity needs to be kept, applied after join_types and before "
        "entity_filter, repeat_types and merge_types; "
        "a decoding choice, no retraining",
    )
    entity_filter: EntityFilter | None = Field(
        default=None,
        description="a fitted logistic keep-or-drop rule for decoded entities over their "
        "confidence, shape and place in the text (see nerp_infra.labels.EntityFilter; fit "
        "one with benchmarks/accuracy.py --fit-filter), applied after min_confidence and "
        "before section_types; a decoding choice, no retraining",
    )
    section_types: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per entity type, section headings ('SKILLS') whose text, up to the next "
        "heading in capitals or link line, becomes one entity of the type in place of the "
        "model's entities there (see nerp_infra.labels.section_entities), applied after "
        "min_confidence and entity_filter; a decoding choice, no retraining",
    )
    tiny: TinyBackboneConfig = Field(default_factory=TinyBackboneConfig)

    @field_validator("min_confidence")
    @classmethod
    def _thresholds_are_probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        for entity_type, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"{entity_type}: {threshold} is not a probability in [0, 1]")
        return value

    @field_validator("section_types")
    @classmethod
    def _headings_named(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for entity_type, headings in value.items():
            if not headings or any(not h.strip() for h in headings):
                raise ValueError(f"{entity_type}: name one or more non-blank section headings")
        return value

    @field_validator("backbone")
    @classmethod
    def _backbone_named(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError(
                f"backbone {value!r} must be one of {', '.join(BACKBONE_ALIASES)}, "
                "an HF model id or a path, without surrounding spaces"
            )
        return value

    @model_validator(mode="after")
    def _stride_fits_window(self) -> ModelConfig:
        if self.stride >= self.max_length:
            raise ValueError(
                f"stride {self.stride} must be smaller than max_length {self.max_length} "
                "(windows overlap by stride tokens)"
            )
        return self
