"""When final training may take an HPO refit, decided from the study's manifest alone (the
whole path, with a real study and trainer, is tested in nerp-hpo's test_refit_reuse.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nerp_infra.artifacts import ArtifactIndex, begin_artifact
from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.model_files import INFERENCE_FILE
from nerp_infra.paths import OutputLayout
from nerp_training.final import Champion, TrainingPlan
from nerp_training.final.refit_reuse import RefitCheck, check_refit, refit_spec_fp

DATA_FP = "cd" * 32
EXEC_FP = "ef" * 32


def _study(root: Path, extra: dict[str, Any]) -> str:
    decision = begin_artifact(
        ArtifactIndex(root),
        OutputLayout(root),
        kind="study",
        stage="hpo",
        backbone="tiny",
        key="t-tiny",
        fingerprints={"data_fp": DATA_FP, "space_fp": "ab" * 32},
        run_mode="force_new",
    )
    checkpoint = decision.handle.dir / "refit" / "model"
    checkpoint.mkdir(parents=True)
    (checkpoint / INFERENCE_FILE).write_text("{}", encoding="utf-8")
    decision.handle.complete(extra=extra)
    return decision.handle.id


def _plan(study_id: str, train: TrainConfig) -> TrainingPlan:
    champion = Champion("selection-1", "tiny", {}, None, study_id)
    return TrainingPlan("best_selected", ModelConfig(backbone="tiny"), train, champion=champion)


def _check(root: Path, plan: TrainingPlan, **kw: Any) -> RefitCheck | None:
    args: dict[str, Any] = {"train_on_validation": True, "nproc": 1, "enabled": True, **kw}
    return check_refit(plan, data_fp=DATA_FP, exec_fp=EXEC_FP, index=ArtifactIndex(root), **args)


def test_no_refit_means_nothing_to_say(tmp_path: Path) -> None:
    study = _study(tmp_path, {"refit_trial_number": None})
    assert _check(tmp_path, _plan(study, TrainConfig())) is None
    scratch = TrainingPlan("scratch", ModelConfig(backbone="tiny"), TrainConfig())
    assert _check(tmp_path, scratch) is None


def test_a_matching_refit_is_reused_and_every_difference_is_named(tmp_path: Path) -> None:
    train = TrainConfig(epochs=1, seed=3)
    plan = _plan("", train)
    spec = refit_spec_fp(data_fp=DATA_FP, model=plan.model, train=train)
    study = _study(
        tmp_path,
        {
            "refit_checkpoint": "refit/model",
            "refit_spec_fp": spec,
            "refit_exec_fp": EXEC_FP,
            "refit_trial_number": 4,
        },
    )
    plan = _plan(study, train)
    check = _check(tmp_path, plan)
    assert check is not None and check.refit is not None
    assert check.refit.record(check.study_dir or tmp_path)["checkpoint"] == "refit/model"
    assert check.refit.trial_number == 4

    def reason(**kw: Any) -> str:
        found = _check(tmp_path, kw.pop("plan", plan), **kw)
        assert found is not None and found.refit is None
        return found.reason

    assert "reuse_refit is false" in reason(enabled=False)
    assert "train_on_validation is false" in reason(train_on_validation=False)
    assert "nproc is 2" in reason(nproc=2)
    assert "spec_fp differs" in reason(plan=_plan(study, TrainConfig(epochs=2, seed=3)))
    assert "not in this output root" in reason(plan=_plan("study-gone", train))
