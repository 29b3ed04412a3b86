"""BIO label schemes, span <-> tag conversion and window merging, shared by training and serving.

One implementation on both sides (ARCHITECTURE §4): nerp_training encodes gold spans with
``encode_spans``; nerp_deploy decodes predictions with
``viterbi_tags`` (valid BIO sequences only) and ``decode_tags``; both cut long
documents with ``plan_windows`` and merge with ``merge_window_predictions``. Serving
builds one ``TokenUnits`` per document for both ``tagged_tokens`` and ``decode_tags``, so
the document's offsets are checked and grouped once.
"""

from nerp_infra.entity_filter import ENTITY_FEATURES, EntityFilter, entity_features
from nerp_infra.labels.bio import (
    LabelAlignmentError,
    Offset,
    SpanLike,
    TokenUnits,
    decode_tags,
    encode_spans,
    misaligned_spans,
    tagged_tokens,
)
from nerp_infra.labels.confidence import confident
from nerp_infra.labels.lists import join_fragments, merge_lists
from nerp_infra.labels.repeats import propagate_repeats
from nerp_infra.labels.scheme import IGNORE_INDEX, OUTSIDE, LabelScheme, split_tag
from nerp_infra.labels.sections import section_entities
from nerp_infra.labels.viterbi import is_valid_bio, viterbi_batch, viterbi_tags
from nerp_infra.labels.windows import (
    TokenPredictions,
    WindowPrediction,
    merge_window_predictions,
    plan_windows,
    probabilities_to_tags,
    special_template,
)

__all__ = [
    "ENTITY_FEATURES",
    "IGNORE_INDEX",
    "OUTSIDE",
    "EntityFilter",
    "LabelAlignmentError",
    "LabelScheme",
    "Offset",
    "SpanLike",
    "TokenPredictions",
    "TokenUnits",
    "WindowPrediction",
    "confident",
    "decode_tags",
    "encode_spans",
    "entity_features",
    "is_valid_bio",
    "join_fragments",
    "merge_lists",
    "merge_window_predictions",
    "misaligned_spans",
    "plan_windows",
    "probabilities_to_tags",
    "propagate_repeats",
    "section_entities",
    "special_template",
    "split_tag",
    "tagged_tokens",
    "viterbi_batch",
    "viterbi_tags",
]
