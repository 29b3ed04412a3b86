"""``nerp train --nproc 2``: two real processes under torchrun (gloo on CPU), one model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_training.data import load_dataset
from nerp_training.distributed import DDP_DIR, torchrun_command
from nerp_training.trainer import TRAINER_DIR


def _nerp() -> list[str]:
    script = Path(sys.executable).with_name("nerp")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nerp_infra.cli"]


def test_two_process_training_writes_one_model_with_metrics_over_all_ranks(
    tmp_path: Path, final_overrides: tuple[str, ...]
) -> None:
    sets = [arg for item in (*final_overrides, "tracking.enabled=false") for arg in ("--set", item)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [*_nerp(), "train", *sets, "--nproc", "2", "--output-root", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "trained model-" in done.stdout

    index = ArtifactIndex(tmp_path)
    (artifact,) = index.find(kind="model")  # one artifact, not one per rank
    manifest = read_manifest(artifact.path)
    assert manifest.status == "complete"
    assert manifest.extra["world_size"] == 2
    assert manifest.config["final_training"]["nproc"] == 2
    assert [p.name for p in artifact.path.iterdir() if p.is_dir()] == ["model"]
    assert not (artifact.path / TRAINER_DIR).exists()
    assert not (artifact.path / DDP_DIR).exists()

    # evaluation gathered every rank's windows: each validation entity is counted once
    dataset = load_dataset(index.get(manifest.lineage[0]).path)
    gold = sum(len(doc.spans) for doc in dataset.validation)
    support = sum(v for k, v in manifest.metrics.items() if k.startswith("support_"))
    assert support == gold
    history = json.loads((artifact.path / "history.json").read_text())
    assert len(history) == 2


def test_torchrun_command_runs_this_module_per_rank(tmp_path: Path) -> None:
    command = torchrun_command(3, tmp_path / "job.json")
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in command
    assert "--nproc-per-node=3" in command
    assert command[-3:] == ["-m", "nerp_training.distributed", str(tmp_path / "job.json")]
    with pytest.raises(ValueError, match="nproc must be >= 1"):
        torchrun_command(0, tmp_path / "job.json")
