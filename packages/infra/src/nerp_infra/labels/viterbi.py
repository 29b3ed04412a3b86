"""BIO-constrained decoding: the most probable tag sequence that is a valid BIO sequence.

Taking each token's most probable tag independently lets a model answer ``B-NAME
I-EMAIL`` or ``O I-SKILL``: a lenient decoder then cuts or invents entities, and strict
scoring counts each as a miss. Viterbi over the per-token probabilities with the one BIO
rule (``I-X`` only after ``B-X`` or ``I-X``) returns the best *valid* sequence instead, so
every predicted entity is whole and typed once. Training's evaluation and serving both
decode with it, from the same probabilities.

The BIO rule only restricts ``I-X`` to follow its own type, so the recursion needs no
transition matrix: ``O`` and ``B-X`` take the best previous score, ``I-X`` the better of
the previous ``B-X`` and ``I-X``. That is O(tokens x labels), fast in pure Python.

Only tagged tokens take part (first sub-tokens of words when the model was trained on
those alone): untrained sub-token outputs must not constrain the path. Untagged tokens
keep their most probable tag, which the decoder never reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nerp_infra.labels.scheme import OUTSIDE, LabelScheme, split_tag
from nerp_infra.labels.windows import TokenPredictions, probabilities_to_tags

__all__ = ["is_valid_bio", "viterbi_tags"]

_FLOOR = 1e-12  # log(0) is -inf; a floor keeps every valid path comparable
_LOG_FLOOR = math.log(_FLOOR)


def _transitions(scheme: LabelScheme) -> list[int | None]:
    """For each label id, the id of the ``B-`` that an ``I-`` may continue (None: any)."""
    ids = scheme.label2id
    allowed: list[int | None] = []
    for label in scheme.labels:
        prefix, entity_type = split_tag(label)
        allowed.append(ids[f"B-{entity_type}"] if prefix == "I" else None)
    return allowed


def viterbi_tags(
    probabilities: Sequence[Sequence[float]],
    scheme: LabelScheme,
    *,
    tagged: Sequence[bool] | None = None,
    continues: bool = False,
) -> TokenPredictions:
    """The best valid BIO tags for one window (or document) and each chosen tag's probability.

    ``probabilities`` holds one row per token, in ``scheme.labels`` order (softmax output).
    ``tagged`` marks the tokens that carry tags (default: all). ``continues`` says the
    sequence starts inside a document, after tokens it cannot see, so it may open with
    ``I-X`` (an entity crossing the window's left edge); otherwise it may not.
    """
    greedy = probabilities_to_tags(probabilities, scheme)  # also checks the rows
    n = len(probabilities)
    if tagged is not None and len(tagged) != n:
        raise ValueError(f"tagged has {len(tagged)} entries but there are {n} probability rows")
    positions = [i for i in range(n) if tagged is None or tagged[i]]
    if not positions:
        return greedy
    labels = scheme.labels
    continues_from = _transitions(scheme)
    # (I-X, B-X) id pairs: the only labels whose best predecessor is not the overall best
    inside = [(j, b) for j, b in enumerate(continues_from) if b is not None]
    n_labels = len(labels)
    log = math.log

    def logs(row: Sequence[float]) -> list[float]:
        return [log(p) if p > _FLOOR else _LOG_FLOOR for p in row]

    first = logs(probabilities[positions[0]])
    score = [
        -math.inf if continues_from[j] is not None and not continues else first[j]
        for j in range(n_labels)
    ]
    back: list[list[int]] = []
    # Plain lists, max() and list.index() run in C: this loop is most of the Python time
    # of a prediction, once per tagged token.
    for position in positions[1:]:
        emit = logs(probabilities[position])
        best_score = max(score)
        pointers = [score.index(best_score)] * n_labels
        new = [best_score + e for e in emit]
        for j, b in inside:
            if score[b] >= score[j]:
                pointers[j] = b
                new[j] = score[b] + emit[j]
            else:
                pointers[j] = j
                new[j] = score[j] + emit[j]
        back.append(pointers)
        score = new
    path = [score.index(max(score))]
    for pointers in reversed(back):
        path.append(pointers[path[-1]])
    path.reverse()
    tags = list(greedy.tags)
    confidences = list(greedy.confidences)
    for position, label_id in zip(positions, path, strict=True):
        tags[position] = labels[label_id]
        confidences[position] = min(1.0, float(probabilities[position][label_id]))
    return TokenPredictions(tags, confidences)


def is_valid_bio(tags: Sequence[str | None]) -> bool:
    """True when every ``I-X`` follows ``B-X`` or ``I-X`` (``None`` entries are skipped)."""
    previous = OUTSIDE
    for tag in tags:
        if tag is None:
            continue
        prefix, entity_type = split_tag(tag)
        if prefix == "I" and previous not in (f"B-{entity_type}", f"I-{entity_type}"):
            return False
        previous = tag
    return True
