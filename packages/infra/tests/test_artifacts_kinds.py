"""The registry of artifact kinds and stage names agrees with the experiment schema."""

from __future__ import annotations

from typing import get_args

from nerp_infra.artifacts import kinds
from nerp_infra.config.experiment import STAGES, StageName


def test_stage_name_literal_lists_the_registry_pipeline_stages_in_order() -> None:
    assert get_args(StageName) == kinds.PIPELINE_STAGES
    assert kinds.PIPELINE_STAGES == STAGES


def test_registry_names_are_unique() -> None:
    assert len(set(kinds.PIPELINE_STAGES)) == len(kinds.PIPELINE_STAGES)
    assert len(set(kinds.ARTIFACT_KINDS)) == len(kinds.ARTIFACT_KINDS)


def test_every_stage_has_a_contract_over_known_kinds_and_payloads_are_for_known_kinds() -> None:
    from nerp_infra.artifacts.payloads import PAYLOADS

    assert tuple(kinds.STAGE_CONTRACTS) == kinds.PIPELINE_STAGES
    for contract in kinds.STAGE_CONTRACTS.values():
        assert set(contract.consumes) | set(contract.produces) <= set(kinds.ARTIFACT_KINDS)
    assert set(PAYLOADS) <= set(kinds.ARTIFACT_KINDS)
