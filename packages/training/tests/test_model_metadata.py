from __future__ import annotations

from pathlib import Path

import pytest

from nerp_infra.config import ModelConfig
from nerp_infra.labels import EntityFilter, LabelScheme
from nerp_infra.model_files import TOKENIZER_FILE, read_inference_settings
from nerp_training.trainer.checkpoint import write_model_metadata
from nerp_training.trainer.device import TrainingError


def test_decoding_options_reach_the_served_settings(tmp_path: Path) -> None:
    rule = EntityFilter(weights={"confidence:SKILL": 3.0, "line_start": 1.0}, bias=-2.0)
    config = ModelConfig(max_length=64, stride=8, min_confidence={"SKILL": 0.7}, entity_filter=rule)
    scheme = LabelScheme(["NAME", "SKILL"])
    (tmp_path / TOKENIZER_FILE).write_text("{}")
    write_model_metadata(tmp_path, scheme=scheme, model_config=config, backbone="tiny")
    served = read_inference_settings(tmp_path)
    assert served.entity_filter == rule
    assert served.min_confidence == {"SKILL": 0.7}
    (tmp_path / TOKENIZER_FILE).unlink()
    with pytest.raises(TrainingError, match="no tokenizer.json"):
        write_model_metadata(tmp_path, scheme=scheme, model_config=config, backbone="tiny")
