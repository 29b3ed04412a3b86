from __future__ import annotations

from pathlib import Path

import pytest

from nerp_infra.artifacts import Manifest, ManifestError, new_artifact_id
from nerp_infra.artifacts.kinds import SELECTION_KIND, STUDY_KIND
from nerp_infra.artifacts.payloads import (
    PAYLOADS,
    Payload,
    SelectionPayload,
    StudyPayload,
    payload_of,
)


def _manifest(kind: str, extra: dict[str, object]) -> Manifest:
    return Manifest(
        id=new_artifact_id(kind),
        kind=kind,
        stage="test",
        backbone="tiny",
        key="k",
        variant=1,
        extra=extra,
    )


def test_a_payload_round_trips_to_the_same_extra_and_keeps_unknown_keys() -> None:
    extra = {
        "champion": {"backbone": "minilm", "params": {"learning_rate": 3e-4}, "note": "kept"},
        "decision": {"rule": "top-k"},
        "written_by_a_newer_nerp": [1, 2],
    }
    payload = SelectionPayload.of(_manifest(SELECTION_KIND, extra))
    assert payload.champion.backbone == "minilm"
    assert payload.champion.params == {"learning_rate": 3e-4}
    assert payload.as_extra() == extra  # only what was set; unknown keys survive


def test_a_bad_field_names_the_manifest_file_and_the_field(tmp_path: Path) -> None:
    manifest = _manifest(SELECTION_KIND, {"champion": {"params": []}})
    with pytest.raises(ManifestError) as caught:
        SelectionPayload.of(manifest, tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "nerp.json") in message
    assert "field extra.champion.backbone: Field required" in message
    assert "field extra.champion.params: Input should be a valid dictionary" in message


def test_each_kind_has_its_payload_and_others_get_the_base_fields() -> None:
    study = payload_of(_manifest(STUDY_KIND, {"study_name": "s", "refit_trial_number": None}))
    assert isinstance(study, StudyPayload)
    assert study.as_extra() == {"study_name": "s", "refit_trial_number": None}
    assert all(model.kind == kind for kind, model in PAYLOADS.items())
    dataset = payload_of(_manifest("dataset", {"mlflow_run_id": "abc"}))
    assert type(dataset) is Payload
    assert dataset.mlflow_run_id == "abc"
