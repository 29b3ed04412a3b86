from __future__ import annotations

import pytest

from nerp_infra.tags import (
    TAG_SCHEMA_VERSION,
    TagRegistry,
    build_tags,
    tag_name,
)


def test_build_tags_prefixes_stringifies_and_fills_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NERP_PLATFORM", "kaggle")
    tags = build_tags(stage="hpo", trial_number=3, lineage=["dataset-1", "study-2"], fold=None)
    assert tags == {
        "nerp.stage": "hpo",
        "nerp.trial_number": "3",
        "nerp.lineage": "dataset-1,study-2",
        "nerp.schema_version": str(TAG_SCHEMA_VERSION),
        "nerp.platform": "kaggle",
    }
    assert build_tags(platform="local", schema_version=9)["nerp.schema_version"] == "9"


def test_unknown_keys_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown tag key 'spec_fingerprint'.*spec_fp"):
        build_tags(stage="hpo", spec_fingerprint="abc")
    with pytest.raises(ValueError, match="unknown tag key 'nope'"):
        tag_name("nope")


def test_bad_values_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"tag nerp\.stage: value of type dict"):
        build_tags(stage={"a": 1})
    with pytest.raises(ValueError, match="contains a comma"):
        build_tags(lineage=["a,b"])
    with pytest.raises(ValueError, match="MLflow allows 8000"):
        build_tags(status_reason="x" * 8001)


def test_registry_extension_and_conflicts() -> None:
    registry = TagRegistry()
    assert "trial_state" not in registry
    registry.register("trial_state", "Optuna trial state")
    registry.register("trial_state", "Optuna trial state")  # idempotent
    assert registry.build(trial_state="PRUNED", defaults=False) == {"nerp.trial_state": "PRUNED"}
    with pytest.raises(ValueError, match="already registered"):
        registry.register("trial_state", "something else")
    with pytest.raises(ValueError, match="lower_snake_case"):
        registry.register("Trial-State", "x")
    assert {"stage", "backbone", "data_fp", "spec_fp", "lineage", "schema_version"} <= set(
        registry.keys
    )
