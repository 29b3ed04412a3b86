"""BIO-constrained decoding: the most probable tag sequence that is a valid BIO sequence.

Taking each token's most probable tag independently lets a model answer ``B-NAME
I-EMAIL`` or ``O I-SKILL``: a lenient decoder then cuts or invents entities, and strict
scoring counts each as a miss. Viterbi over the per-token probabilities with the one BIO
rule (``I-X`` only after ``B-X`` or ``I-X``) returns the best *valid* sequence instead, so
every predicted entity is whole and typed once. Training's evaluation and serving both
decode with it, from the same probabilities.

The BIO rule only restricts ``I-X`` to follow its own type, so the recursion needs no
transition matrix: ``O`` and ``B-X`` take the best previous score, ``I-X`` the better of
the previous ``B-X`` and ``I-X``. Where the per-token best tags already form a valid
sequence they *are* the best valid one (every allowed transition costs nothing), so only
windows with a broken transition run the recursion, and all of those together: one numpy
step per token position across the windows of a batch, not one Python loop per window.

Only tagged tokens take part (first sub-tokens of words when the model was trained on
those alone): untrained sub-token outputs must not constrain the path. Untagged tokens
keep their most probable tag, which the decoder never reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nerp_infra.labels.scheme import OUTSIDE, LabelScheme, split_tag
from nerp_infra.labels.windows import TokenPredictions

__all__ = ["is_valid_bio", "viterbi_batch", "viterbi_tags"]

_FLOOR = 1e-12  # log(0) is -inf; a floor keeps every valid path comparable


def _continued(scheme: LabelScheme) -> npt.NDArray[np.int64]:
    """For each label id, the id of the ``B-`` that an ``I-`` may continue (-1: none)."""
    ids = scheme.label2id
    allowed = []
    for label in scheme.labels:
        prefix, entity_type = split_tag(label)
        allowed.append(ids[f"B-{entity_type}"] if prefix == "I" else -1)
    return np.asarray(allowed, dtype=np.int64)


def _checked(probabilities: npt.ArrayLike, scheme: LabelScheme) -> npt.NDArray[np.float64]:
    array = np.asarray(probabilities, dtype=np.float64)
    n_labels = len(scheme.labels)
    if array.ndim != 3 or array.shape[-1] != n_labels:
        raise ValueError(
            f"probabilities have shape {array.shape}; expected (windows, tokens, {n_labels}) "
            f"for the label scheme's {n_labels} labels"
        )
    # Two whole-array reductions settle the usual case (every value in [0, 1]); the per-token
    # peaks, a slow reduction over a short last axis, are only computed to name a bad one.
    if array.size and not (array.min() >= 0.0 and array.max() <= 1.0):  # NaN fails both
        peaks = array.max(axis=-1)
        bad = ~((peaks >= 0.0) & (peaks <= 1.0))  # NaN fails both
        if bad.any():
            window, token = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"probabilities[{window}][{token}] peaks at {float(peaks[window, token])!r}, not a "
                "probability; apply softmax to logits first"
            )
    return array


def viterbi_batch(
    probabilities: npt.ArrayLike,
    scheme: LabelScheme,
    *,
    tagged: npt.ArrayLike | None = None,
    continues: Sequence[bool] | npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The best valid BIO label ids of many windows at once, and each chosen label's probability.

    ``probabilities`` is ``(windows, tokens, labels)`` in ``scheme.labels`` order (softmax
    output; pad short windows with any probabilities and mark the padding untagged).
    ``tagged`` ``(windows, tokens)`` marks the tokens that carry tags (default: all);
    ``continues[w]`` says window ``w`` starts inside a document, after tokens it cannot see,
    so it may open with ``I-X`` (an entity crossing the window's left edge).
    """
    probs = _checked(probabilities, scheme)
    n_windows, n_tokens, _ = probs.shape
    mask = (
        np.ones((n_windows, n_tokens), dtype=bool)
        if tagged is None
        else np.asarray(tagged, dtype=bool)
    )
    if mask.shape != (n_windows, n_tokens):
        raise ValueError(
            f"tagged has shape {mask.shape} but the probabilities are for "
            f"{n_windows} windows of {n_tokens} tokens"
        )
    opens = (
        np.zeros(n_windows, dtype=bool)
        if continues is None
        else np.asarray(continues, dtype=bool).reshape(n_windows)
    )
    ids = probs.argmax(axis=-1)
    continued = _continued(scheme)

    # Tagged tokens moved to the front of each window, in order: the recursion then runs
    # over positions 0..k-1 of every window, padding after the last tagged token.
    counts = mask.sum(axis=1)
    order = np.argsort(~mask, axis=1, kind="stable")
    width = int(counts.max(initial=0))
    order = order[:, :width]
    steps = np.arange(width)[None, :] < counts[:, None]
    rows = np.arange(n_windows)[:, None]
    greedy = ids[rows, order]

    # Valid already? An I-X must follow B-X or I-X (or open a continued window).
    head_inside = continued[greedy[:, 0]] >= 0 if width else np.zeros(n_windows, dtype=bool)
    broken = head_inside & ~opens & (counts > 0)
    if width > 1:
        previous, current = greedy[:, :-1], greedy[:, 1:]
        wanted = continued[current]
        bad = (wanted >= 0) & (previous != wanted) & (previous != current) & steps[:, 1:]
        broken |= bad.any(axis=1)

    chosen = ids.copy()
    todo = np.flatnonzero(broken)
    if todo.size:
        path = _best_paths(probs[todo[:, None], order[todo]], steps[todo], opens[todo], continued)
        for index, window in enumerate(todo):
            n = counts[window]
            chosen[window, order[window, :n]] = path[index, :n]
    confidences = np.minimum(1.0, np.take_along_axis(probs, chosen[..., None], axis=-1)[..., 0])
    return chosen, confidences


def _best_paths(
    probs: npt.NDArray[np.float64],
    live: npt.NDArray[np.bool_],
    opens: npt.NDArray[np.bool_],
    continued: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """The recursion over ``(windows, steps, labels)``; ``live`` marks each row's real steps.

    Labels are reordered so that every ``I-X`` and the ``B-X`` it continues sit in two
    aligned slices (``[others, B..., I...]``): each step is then a handful of whole-array
    operations on views instead of gathers by index, and the back-pointers are kept as
    the step's best label plus one "came from B" flag per ``I-X``.
    """
    n_rows, width, n_labels = probs.shape
    inside = np.flatnonzero(continued >= 0)
    begins = continued[inside]
    others = np.setdiff1d(np.arange(n_labels), np.concatenate([inside, begins]))
    perm = np.concatenate([others, begins, inside])
    k, b0 = inside.size, others.size
    i0 = b0 + k
    log = np.log(np.maximum(probs[:, :, perm], _FLOOR))
    score = log[:, 0].copy()
    score[~opens, i0:] = -np.inf
    best = np.zeros((n_rows, width), dtype=np.int64)
    from_begin = np.zeros((n_rows, width, k), dtype=bool)
    line = np.arange(n_rows)
    all_live = np.all(live, axis=0).tolist()  # one Python bool per step
    for step in range(1, width):
        emit = log[:, step]
        top = score.argmax(axis=1)
        new = emit + score[line, top][:, None]
        begin_score, inside_score = score[:, b0:i0], score[:, i0:]
        came = begin_score >= inside_score
        new[:, i0:] = np.maximum(begin_score, inside_score) + emit[:, i0:]
        best[:, step] = top
        from_begin[:, step] = came
        if not all_live[step]:
            dead = ~live[:, step]
            new[dead] = score[dead]
        score = new
    path = np.empty((n_rows, width), dtype=np.int64)
    path[:, -1] = score.argmax(axis=1)
    for step in range(width - 1, 0, -1):
        current = path[:, step]
        previous = best[:, step].copy()
        in_inside = current >= i0
        if in_inside.any():
            rows = line[in_inside]
            slot = current[in_inside] - i0
            previous[in_inside] = np.where(
                from_begin[rows, step, slot], b0 + slot, current[in_inside]
            )
        if not all_live[step]:
            dead = ~live[:, step]
            previous[dead] = current[dead]
        path[:, step - 1] = previous
    return perm[path]


def viterbi_tags(
    probabilities: Sequence[Sequence[float]] | npt.ArrayLike,
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
    rows = np.asarray(probabilities, dtype=np.float64)
    if rows.size == 0:
        return TokenPredictions([], [])
    n = rows.shape[0]  # the shape itself is checked by viterbi_batch
    if tagged is not None and len(tagged) != n:
        raise ValueError(f"tagged has {len(tagged)} entries but there are {n} probability rows")
    ids, confidences = viterbi_batch(
        rows[None],
        scheme,
        tagged=None if tagged is None else [list(tagged)],
        continues=[continues],
    )
    labels = scheme.labels
    return TokenPredictions([labels[i] for i in ids[0].tolist()], confidences[0].tolist())


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
