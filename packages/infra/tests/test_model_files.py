from __future__ import annotations

from pathlib import Path

import pytest

from nerp_infra.labels import EntityFilter
from nerp_infra.model_files import (
    INFERENCE_FILE,
    InferenceSettings,
    read_inference_settings,
    write_inference_settings,
)

LABELS = ("O", "B-NAME", "I-NAME", "B-SKILL", "I-SKILL")


def test_round_trip(tmp_path: Path) -> None:
    settings = InferenceSettings(labels=LABELS, max_length=64, stride=16, backbone="tiny")
    write_inference_settings(tmp_path, settings)
    assert read_inference_settings(tmp_path) == settings
    assert settings.entity_types == ("NAME", "SKILL")
    assert settings.label2id["B-SKILL"] == 3
    assert not list(tmp_path.glob(".inference-*")), "no temp file left behind"


def test_missing_and_invalid_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="inference.json: missing"):
        read_inference_settings(tmp_path)
    (tmp_path / INFERENCE_FILE).write_text('{"labels": ["O"], "max_length": 64, "stride": 70}')
    with pytest.raises(
        ValueError, match=r"(?s)inference.json: invalid inference settings.*stride 70"
    ):
        read_inference_settings(tmp_path)


def test_labels_must_start_with_outside() -> None:
    with pytest.raises(ValueError, match="must start with 'O'"):
        InferenceSettings(labels=("B-NAME", "O"), max_length=64, stride=8)


def test_repeat_types_round_trip_and_are_left_out_of_the_file_when_empty(tmp_path: Path) -> None:
    plain = InferenceSettings(labels=LABELS, max_length=64, stride=16)
    write_inference_settings(tmp_path, plain)
    assert "repeat_types" not in (tmp_path / INFERENCE_FILE).read_text()  # older engines read it
    repeats = InferenceSettings(labels=LABELS, max_length=64, stride=16, repeat_types=("SKILL",))
    write_inference_settings(tmp_path, repeats)
    assert read_inference_settings(tmp_path).repeat_types == ("SKILL",)
    with pytest.raises(ValueError, match=r"repeat_types \['EMAIL'\] are not entity types"):
        InferenceSettings(labels=LABELS, max_length=64, stride=16, repeat_types=("EMAIL",))


@pytest.mark.parametrize("field", ["merge_types", "join_types"])
def test_type_lists_round_trip_and_are_left_out_of_the_file_when_empty(
    tmp_path: Path, field: str
) -> None:
    write_inference_settings(tmp_path, InferenceSettings(labels=LABELS, max_length=64, stride=16))
    assert field not in (tmp_path / INFERENCE_FILE).read_text()  # older engines read it
    listed = InferenceSettings.model_validate(
        {"labels": LABELS, "max_length": 64, "stride": 16, field: ("SKILL",)}
    )
    write_inference_settings(tmp_path, listed)
    assert getattr(read_inference_settings(tmp_path), field) == ("SKILL",)
    assert "repeat_types" not in (tmp_path / INFERENCE_FILE).read_text()
    with pytest.raises(ValueError, match=rf"{field} \['EMAIL'\] are not entity types"):
        InferenceSettings.model_validate(
            {"labels": LABELS, "max_length": 64, "stride": 16, field: ("EMAIL",)}
        )


def test_min_confidence_round_trips_and_is_left_out_of_the_file_when_empty(
    tmp_path: Path,
) -> None:
    write_inference_settings(tmp_path, InferenceSettings(labels=LABELS, max_length=64, stride=16))
    assert "min_confidence" not in (tmp_path / INFERENCE_FILE).read_text()
    floors = InferenceSettings(
        labels=LABELS, max_length=64, stride=16, min_confidence={"SKILL": 0.8}
    )
    write_inference_settings(tmp_path, floors)
    assert read_inference_settings(tmp_path).min_confidence == {"SKILL": 0.8}
    with pytest.raises(ValueError, match=r"min_confidence \['EMAIL'\] are not entity types"):
        InferenceSettings(labels=LABELS, max_length=64, stride=16, min_confidence={"EMAIL": 0.5})


def test_section_types_round_trip_and_are_left_out_of_the_file_when_empty(
    tmp_path: Path,
) -> None:
    write_inference_settings(tmp_path, InferenceSettings(labels=LABELS, max_length=64, stride=16))
    assert "section_types" not in (tmp_path / INFERENCE_FILE).read_text()  # older engines read it
    sections = InferenceSettings(
        labels=LABELS, max_length=64, stride=16, section_types={"SKILL": ("SKILLS",)}
    )
    write_inference_settings(tmp_path, sections)
    assert read_inference_settings(tmp_path).section_types == {"SKILL": ("SKILLS",)}
    with pytest.raises(ValueError, match=r"section_types \['EMAIL'\] are not entity types"):
        InferenceSettings(
            labels=LABELS, max_length=64, stride=16, section_types={"EMAIL": ("EMAIL",)}
        )


def test_entity_filter_round_trips_and_must_name_label_types(tmp_path: Path) -> None:
    write_inference_settings(tmp_path, InferenceSettings(labels=LABELS, max_length=64, stride=16))
    assert "entity_filter" not in (tmp_path / INFERENCE_FILE).read_text()
    rule = EntityFilter(weights={"confidence:SKILL": 2.0, "line_start": 1.0}, bias=-1.0)
    write_inference_settings(
        tmp_path, InferenceSettings(labels=LABELS, max_length=64, stride=16, entity_filter=rule)
    )
    assert read_inference_settings(tmp_path).entity_filter == rule
    with pytest.raises(ValueError, match=r"entity_filter weights name \['EMAIL'\], not entity"):
        InferenceSettings(
            labels=LABELS,
            max_length=64,
            stride=16,
            entity_filter=EntityFilter(weights={"type:EMAIL": 1.0}),
        )
