"""Distributed data-parallel training under torchrun (``nerp train --nproc N``).

The calling process keeps everything that must happen once (the artifact, the index,
MLflow) and hands the training itself to ``torchrun``: it writes the documents and a job
file into the output folder, runs ``python -m torch.distributed.run --standalone
--nproc-per-node N -m nerp_training.distributed <job>``, and reads back the result that
rank 0 wrote. Every rank calls :func:`~nerp_training.trainer.train_model` with the same
job; the Trainer (through accelerate) joins the process group (gloo on CPU, nccl on GPU),
shards the batches, gathers every rank's evaluation predictions and lets rank 0 write the
model. If the launcher is killed the checkpoints stay, and the next run resumes them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document, read_documents, write_documents
from nerp_infra.files import atomic_write
from nerp_training.trainer.device import TrainingError

if TYPE_CHECKING:
    from nerp_training.trainer.train import TrainingResult

__all__ = [
    "DDP_DIR",
    "DistributedJob",
    "run_distributed",
    "torchrun_command",
    "worker_main",
]

DDP_DIR = "ddp"
"""Folder (inside the training output) holding the job, its documents and the result."""
_JOB = "job.json"
_RESULT = "result.json"


class DistributedJob(BaseModel):
    """Everything a rank needs to call ``train_model``, as one JSON file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_docs: Path
    eval_docs: Path | None
    entity_types: list[str]
    model: ModelConfig
    train: TrainConfig
    output_dir: Path
    init_from: Path | None = None
    resume: bool = False
    save_model: bool = True
    progress: bool = True
    result: Path


def torchrun_command(nproc: int, job_file: Path) -> list[str]:
    """The torchrun command line for ``nproc`` local processes running ``job_file``.

    ``--standalone`` gives each launch its own rendezvous on a free local port, so
    several trainings on one machine never collide on a port.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "nerp_training.distributed",
        str(job_file),
    ]


def _environment(nproc: int) -> dict[str, str]:
    env = dict(os.environ)
    # torchrun would set 1 thread per process with a warning; share the cores instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_distributed(
    *,
    nproc: int,
    train_docs: Sequence[Document],
    eval_docs: Sequence[Document] | None,
    entity_types: Sequence[str],
    model_config: ModelConfig,
    train_config: TrainConfig,
    output_dir: Path,
    init_from: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainingResult:
    """Train with ``nproc`` DDP processes on this machine; returns rank 0's result.

    ``train_config.batch_size`` is per process, so the effective batch is
    ``batch_size × gradient_accumulation_steps × nproc``.
    """
    work = Path(output_dir) / DDP_DIR
    work.mkdir(parents=True, exist_ok=True)
    result_file = work / _RESULT
    result_file.unlink(missing_ok=True)
    train_file = write_documents(train_docs, work / "train.jsonl")
    eval_file = write_documents(eval_docs, work / "eval.jsonl") if eval_docs else None
    job = DistributedJob(
        train_docs=train_file,
        eval_docs=eval_file,
        entity_types=list(entity_types),
        model=model_config,
        train=train_config,
        output_dir=Path(output_dir),
        init_from=init_from,
        resume=resume,
        progress=progress,
        result=result_file,
    )
    job_file = work / _JOB
    job_file.write_text(job.model_dump_json(indent=1), encoding="utf-8")
    completed = subprocess.run(torchrun_command(nproc, job_file), env=_environment(nproc))
    if completed.returncode != 0:
        raise TrainingError(
            f"distributed training with {nproc} processes failed (torchrun exit status "
            f"{completed.returncode}); the ranks' errors are printed above. Checkpoints "
            f"under {Path(output_dir)} are kept for resume_if_incomplete"
        )
    if not result_file.is_file():
        raise TrainingError(f"{result_file}: rank 0 finished without writing its result")
    from nerp_training.trainer.train import TrainingResult

    data: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    shutil.rmtree(work, ignore_errors=True)  # copies of the documents; the result is read
    if data.get("model_dir") is not None:
        data["model_dir"] = Path(data["model_dir"])
    return TrainingResult(**data)


def worker_main(argv: Sequence[str] | None = None) -> int:
    """One rank: run the job file's training; rank 0 writes the result file."""
    from nerp_training.trainer.train import train_model

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m nerp_training.distributed <job.json>", file=sys.stderr)
        return 2
    job_path = Path(args[0])
    job = DistributedJob.model_validate_json(job_path.read_text(encoding="utf-8"))
    result = train_model(
        train_docs=read_documents(job.train_docs),
        eval_docs=read_documents(job.eval_docs) if job.eval_docs is not None else None,
        entity_types=job.entity_types,
        model_config=job.model,
        train_config=job.train,
        output_dir=job.output_dir,
        init_from=job.init_from,
        resume=job.resume,
        save_model=job.save_model,
        progress=job.progress and int(os.environ.get("RANK", "0")) == 0,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        payload = asdict(result)
        payload["model_dir"] = None if result.model_dir is None else str(result.model_dir)
        atomic_write(job.result, json.dumps(payload, indent=1))
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
