"""The selection rules as pure functions: stable scores, support, tolerance, composite."""

from __future__ import annotations

import pytest

from nerp_eval.errors import SelectionError
from nerp_eval.selection import (
    Candidate,
    champion_per_backbone,
    decide,
    score_group,
    stable_score,
)
from nerp_eval.selection.studies import TrialRecord
from nerp_infra.config import SelectionConfig


def _trials(*values: float) -> list[TrialRecord]:
    return [TrialRecord(number=i, value=v) for i, v in enumerate(values)]


def _candidate(backbone: str, score: float, latency: float | None) -> Candidate:
    return Candidate(
        backbone=backbone,
        score=score,
        study_artifact_id=f"study-{backbone}",
        trial=TrialRecord(0, score),
        latency_ms=latency,
    )


def test_stable_score_is_the_median_of_the_top_k() -> None:
    # one lucky 0.95 does not carry the group: median of 0.95, 0.71, 0.70
    assert stable_score([0.70, 0.95, 0.60, 0.71], top_k=3) == pytest.approx(0.71)
    assert stable_score([0.5], top_k=3) == pytest.approx(0.5)
    with pytest.raises(SelectionError):
        stable_score([], top_k=3)


def test_group_needs_enough_complete_trials() -> None:
    config = SelectionConfig(min_trials_per_group=3, top_k=2)
    small = score_group(
        study_artifact_id="s1",
        study_name="a",
        backbone="x",
        trials=_trials(0.9, 0.8),
        config=config,
    )
    assert not small.eligible and small.score is None
    assert "2 complete trial(s), fewer than min_trials_per_group 3" in small.reason
    enough = score_group(
        study_artifact_id="s2",
        study_name="b",
        backbone="x",
        trials=_trials(0.9, 0.8, 0.1),
        config=config,
    )
    assert enough.eligible
    assert enough.score == pytest.approx(0.85)
    assert enough.best_trial == TrialRecord(0, 0.9)


def test_champion_per_backbone_takes_the_best_group() -> None:
    config = SelectionConfig(top_k=1)
    groups = [
        score_group(
            study_artifact_id=study,
            study_name=study,
            backbone=backbone,
            trials=_trials(value),
            config=config,
        )
        for study, backbone, value in (("s1", "x", 0.7), ("s2", "x", 0.8), ("s3", "y", 0.6))
    ]
    champions = champion_per_backbone(groups)
    assert {k: v.study_artifact_id for k, v in champions.items()} == {"x": "s2", "y": "s3"}


@pytest.mark.parametrize(
    ("tolerance", "mode", "winner", "rule"),
    [
        (0.02, "absolute", "fast", "faster_within_tolerance"),
        (0.019, "absolute", "accurate", "most_accurate_outside_tolerance"),
        (0.025, "relative", "fast", "faster_within_tolerance"),  # 0.80 * 0.975 = 0.78
        (0.02, "relative", "accurate", "most_accurate_outside_tolerance"),  # 0.784 > 0.78
    ],
)
def test_tolerance_boundaries(tolerance: float, mode: str, winner: str, rule: str) -> None:
    config = SelectionConfig.model_validate(
        {"accuracy_tolerance": tolerance, "tolerance_mode": mode}
    )
    decision = decide([_candidate("accurate", 0.80, 10.0), _candidate("fast", 0.78, 2.0)], config)
    assert (decision.winner.backbone, decision.rule) == (winner, rule)
    assert f"{decision.threshold:.4f}" in decision.reason


def test_most_accurate_and_fastest_wins_outright() -> None:
    decision = decide(
        [_candidate("a", 0.80, 2.0), _candidate("b", 0.79, 3.0)],
        SelectionConfig(accuracy_tolerance=0.05),
    )
    assert (decision.winner.backbone, decision.rule) == ("a", "most_accurate_and_fastest")


def test_among_several_within_tolerance_the_fastest_wins() -> None:
    decision = decide(
        [
            _candidate("best", 0.80, 9.0),
            _candidate("fastest", 0.77, 1.0),
            _candidate("middle", 0.79, 4.0),
            _candidate("too-weak", 0.60, 0.5),
        ],
        SelectionConfig(accuracy_tolerance=0.05),
    )
    assert decision.winner.backbone == "fastest"
    assert "too-weak" in decision.reason.split("outside:")[1]


def test_composite_normalises_score_and_speed() -> None:
    config = SelectionConfig(strategy="composite", f1_weight=0.5, latency_weight=0.5)
    candidates = [
        _candidate("a", 0.80, 10.0),  # score 1, speed 0 -> 0.5
        _candidate("b", 0.70, 2.0),  # score 0, speed 1 -> 0.5
        _candidate("c", 0.78, 4.0),  # score 0.8, speed 0.75 -> 0.775
    ]
    decision = decide(candidates, config)
    scores = {c.backbone: c.composite for c in decision.candidates}
    assert scores == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.775})
    assert decision.winner.backbone == "c"
    assert "0.5×0.800 + 0.5×0.750 = 0.775" in decision.reason


def test_composite_tie_goes_to_the_more_accurate() -> None:
    config = SelectionConfig(strategy="composite", f1_weight=0.5, latency_weight=0.5)
    decision = decide([_candidate("fast", 0.7, 1.0), _candidate("accurate", 0.8, 2.0)], config)
    assert decision.winner.backbone == "accurate"


def test_single_candidate_needs_no_latency() -> None:
    decision = decide([_candidate("only", 0.7, None)], SelectionConfig())
    assert (decision.winner.backbone, decision.rule) == ("only", "only_candidate")


def test_missing_latency_between_backbones_is_an_error() -> None:
    with pytest.raises(SelectionError, match="'b' has no measured latency"):
        decide([_candidate("a", 0.8, 1.0), _candidate("b", 0.7, None)], SelectionConfig())
