"""Overlapping windows over long documents, and merging their predictions back.

A resume is often longer than a model's window. Training and inference both cut the
document's content tokens (no special tokens) into windows with the same rule as Hugging
Face's ``return_overflowing_tokens=True, stride=...``: each window holds at most
``max_tokens`` tokens and consecutive windows share ``stride`` of them. (Pass
``max_length`` minus the special tokens the model adds, e.g. ``max_length - 2`` for BERT.)

Where windows overlap, each token's prediction is taken from the window in which the
token has the most context on its poorer side ("max context", as in Hugging Face's SQuAD
post-processing); a window edge that is also the document's edge counts as unlimited
context, and ties go to the earlier window. Every token then has exactly one prediction,
so an entity crossing a seam is decoded once, from tokens that each saw context on both
sides, instead of twice or cut in two.

Pure Python lists in and out on purpose: nerp_deploy (numpy) and nerp_training (torch)
convert and call the same functions. Inside, the max-context rule runs as numpy over each
window and the merged predictions are copied a run of tokens at a time, since serving
merges every document's windows on every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from nerp_infra.labels.scheme import LabelScheme, split_tag

__all__ = [
    "TokenPredictions",
    "WindowPrediction",
    "merge_window_predictions",
    "plan_windows",
    "probabilities_to_tags",
    "special_template",
]


def special_template(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special token ids a ``tokenizers.Tokenizer`` puts before and after one sequence.

    Read off a probe encoding rather than assumed, so BERT's ``[CLS] … [SEP]``, RoBERTa's
    ``<s> … </s>`` and tokenizers without specials all work, and training and serving
    build their windows from the same ids.
    """
    probe = tokenizer.encode("a b", add_special_tokens=True)
    content = [i for i, special in enumerate(probe.special_tokens_mask) if not special]
    if not content:
        return [], []
    return list(probe.ids[: content[0]]), list(probe.ids[content[-1] + 1 :])


def plan_windows(n_tokens: int, max_tokens: int, stride: int) -> list[tuple[int, int]]:
    """Token ranges ``[start, end)`` covering ``n_tokens`` content tokens; none for zero tokens.

    Windows start every ``max_tokens - stride`` tokens and stop at the first one reaching
    the end, matching the tokenizers library's overflow, so a model trained on its
    overflowing windows sees the same cuts at inference.
    """
    for name, value in (("n_tokens", n_tokens), ("max_tokens", max_tokens), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if n_tokens < 0:
        raise ValueError(f"n_tokens must be >= 0, got {n_tokens}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if not 0 <= stride < max_tokens:
        raise ValueError(
            f"stride must be >= 0 and smaller than max_tokens ({max_tokens}), got {stride}; "
            "windows would not advance"
        )
    windows: list[tuple[int, int]] = []
    step = max_tokens - stride
    start = 0
    while start < n_tokens:
        end = min(start + max_tokens, n_tokens)
        windows.append((start, end))
        if end == n_tokens:
            break
        start += step
    return windows


class TokenPredictions(NamedTuple):
    """Per-token tags and the probability of each chosen tag."""

    tags: list[str | None]
    confidences: list[float]


def probabilities_to_tags(
    probabilities: Sequence[Sequence[float]], scheme: LabelScheme
) -> TokenPredictions:
    """Most probable tag per token (ids in ``scheme`` order) and its probability."""
    labels = scheme.labels
    tags: list[str | None] = []
    confidences: list[float] = []
    for i, row in enumerate(probabilities):
        if len(row) != len(labels):
            raise ValueError(
                f"probabilities[{i}] has {len(row)} values but the label scheme has "
                f"{len(labels)} labels"
            )
        values = row if isinstance(row, list) else list(row)
        peak = max(values)  # max() and index() in C: this runs once per token
        best = values.index(peak)
        value = float(peak)
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"probabilities[{i}] peaks at {value!r}, not a probability; apply softmax to "
                "logits first"
            )
        tags.append(labels[best])
        confidences.append(value)
    return TokenPredictions(tags, confidences)


@dataclass(frozen=True)
class WindowPrediction:
    """A window's predictions for its content tokens ``[start, end)`` of the document."""

    start: int
    end: int
    tags: Sequence[str | None]
    confidences: Sequence[float]

    def __post_init__(self) -> None:
        if self.start < 0 or self.end <= self.start:
            raise ValueError(f"window [{self.start}, {self.end}) must satisfy 0 <= start < end")
        size = self.end - self.start
        if len(self.tags) != size or len(self.confidences) != size:
            raise ValueError(
                f"window [{self.start}, {self.end}) covers {size} tokens but has "
                f"{len(self.tags)} tags and {len(self.confidences)} confidences; strip special "
                "tokens before building it"
            )
        for tag in dict.fromkeys(self.tags):  # each distinct tag once, in order of appearance
            if tag is not None:
                split_tag(tag)

    @classmethod
    def from_probabilities(
        cls, start: int, probabilities: Sequence[Sequence[float]], scheme: LabelScheme
    ) -> WindowPrediction:
        """Build from per-token probability vectors (content tokens only, scheme order)."""
        tags, confidences = probabilities_to_tags(probabilities, scheme)
        return cls(start, start + len(tags), tags, confidences)


def merge_window_predictions(
    windows: Sequence[WindowPrediction], n_tokens: int | None = None
) -> TokenPredictions:
    """One prediction per document token from overlapping windows, by the max-context rule.

    ``n_tokens`` (default: the last window's end) lets the call check that the windows
    reach the end of the document. Every token must be covered by some window.
    """
    total = max((w.end for w in windows), default=0) if n_tokens is None else n_tokens
    if total < 0:
        raise ValueError(f"n_tokens must be >= 0, got {total}")
    owner = np.full(total, -1)  # per token, the index in ``ordered`` of the window it takes
    best = np.full(total, -1.0)
    ordered = sorted(windows, key=lambda w: (w.start, w.end))
    for index, window in enumerate(ordered):
        if window.end > total:
            raise ValueError(
                f"window [{window.start}, {window.end}) reaches past the document's {total} tokens"
            )
        steps = np.arange(window.end - window.start, dtype=np.float64)
        edge = np.full(steps.size, np.inf)  # a document edge is unlimited context
        left = steps if window.start > 0 else edge
        right = steps[::-1] if window.end < total else edge
        score = np.minimum(left, right)
        better = score > best[window.start : window.end]  # strict: ties keep the earlier window
        best[window.start : window.end][better] = score[better]
        owner[window.start : window.end][better] = index
    uncovered = np.flatnonzero(owner < 0)
    if uncovered.size:
        raise ValueError(
            f"token {int(uncovered[0])} is covered by no window ({uncovered.size} tokens "
            "uncovered); windows must cover the whole document"
        )
    tags: list[str | None] = []
    confidences: list[float] = []
    # Runs of tokens that take the same window, copied as slices: [0, ..., total].
    bounds = np.flatnonzero(np.diff(owner, prepend=-1, append=-1)).tolist()
    for first, stop in pairwise(bounds):
        window = ordered[int(owner[first])]
        piece = slice(first - window.start, stop - window.start)
        tags.extend(window.tags[piece])
        confidences.extend(map(float, window.confidences[piece]))
    return TokenPredictions(tags, confidences)
