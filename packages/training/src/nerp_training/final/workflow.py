"""``nerp train``: the final model, as a fingerprinted, resumable, tracked artifact.

Steps: the dataset artifact (prepared, or reused when its source is unchanged) → the
training plan for the source (``scratch``, ``best_selected``, ``final_training``) → the
fingerprints (``spec_fp``: data, backbone, every model and train setting, the starting
model, train+validation or not, the process count; ``exec_fp``: versions, precision,
device) → :func:`nerp_infra.artifacts.begin_artifact` decides by run mode whether to
reuse, resume or start → training (in this process, or under torchrun with
``nproc > 1``) inside an MLflow run → ``model/``, ``history.json`` and the completed
manifest. The test split is never trained on.

A model artifact (kind ``model``, stage ``final_training``) holds::

    nerp.json        manifest: fingerprints {data_fp, spec_fp, exec_fp}; lineage [dataset,
                     selection?, study?, previous model?]; metrics (validation, when held
                     out); extra {mlflow_run_id, checkpoint_step, global_step, ...}
    model/           HF checkpoint + tokenizer.json + inference.json + label_map.json
    history.json     per-epoch training loss, learning rate and validation metrics
    trainer/         Trainer checkpoints while training (deleted once complete)

With ``best_selected`` and an HPO refit that trained exactly this model (same spec and
exec fingerprints, train + validation, one process), the refit's weights are linked into
``model/`` instead of training them again: ``extra.reused_refit`` names the study artifact
(also in the lineage), the trial and the refit's fingerprints (see
:mod:`nerp_training.final.refit_reuse`; ``final_training.reuse_refit: false`` always trains).

An interruption (Ctrl-C, a killed process) leaves the artifact ``incomplete`` with its
checkpoints; ``resume_if_incomplete`` continues it from the last one. Any other error
marks it ``failed`` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerp_infra.artifacts import (
    ArtifactAction,
    ArtifactDecision,
    ArtifactHandle,
    ArtifactIndex,
    Manifest,
    begin_artifact,
    check_run_mode,
)
from nerp_infra.artifacts.kinds import FINAL_TRAINING_STAGE, MODEL_KIND
from nerp_infra.artifacts.payloads import ModelPayload
from nerp_infra.config import ExperimentConfig
from nerp_infra.fingerprints import exec_fp, short, spec_fp
from nerp_infra.model_files import CHECKPOINT_DIR
from nerp_infra.paths import OutputLayout, backbone_component
from nerp_infra.tags import build_tags
from nerp_infra.tracking import tracked_stage
from nerp_training.backbones import resolve_backbone
from nerp_training.data import PreparedDataset, load_or_prepare_dataset
from nerp_training.final.refit_reuse import (
    REUSED_REFIT_FIELD,
    RefitCheck,
    check_refit,
    link_checkpoint,
)
from nerp_training.final.sources import (
    SOURCES,
    FinalTrainingError,
    TrainingPlan,
    plan_training,
)
from nerp_training.trainer.device import device_type, resolve_precision

if TYPE_CHECKING:  # transformers is imported only where training happens
    from rich.console import Console
    from transformers import TrainerCallback

    from nerp_training.trainer.train import TrainingResult

__all__ = [
    "HISTORY_FILE",
    "FinalTrainingOutcome",
    "run_final_training",
]

logger = logging.getLogger("nerp_training.final")

HISTORY_FILE = "history.json"


@dataclass
class FinalTrainingOutcome:
    """What ``run_final_training`` did (``action``: reuse, resume or new) and where."""

    action: ArtifactAction
    reason: str
    artifact_id: str
    artifact_dir: Path
    manifest: Manifest
    dataset_id: str
    result: TrainingResult | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    refit_note: str | None = None
    """One line on the HPO refit: reused as this model, or why it was not (None: no
    refit was in question)."""

    @property
    def reused_refit(self) -> bool:
        """True when this model is the HPO refit's weights, not trained here."""
        return self.action == "new" and self.payload.reused_refit is not None

    @property
    def model_dir(self) -> Path:
        return self.artifact_dir / CHECKPOINT_DIR

    @cached_property
    def payload(self) -> ModelPayload:
        return ModelPayload.of(self.manifest, self.artifact_dir)

    @property
    def mlflow_run_id(self) -> str | None:
        return self.payload.mlflow_run_id or None


def _fingerprints(
    plan: TrainingPlan, dataset: PreparedDataset, *, train_on_validation: bool, nproc: int
) -> tuple[dict[str, str], str]:
    precision = resolve_precision(plan.train.precision)
    model = plan.model.model_dump(mode="json")
    if plan.parent_model_id is not None:
        model["init_from"] = plan.parent_model_id
    train = {
        **plan.train.model_dump(mode="json"),
        "train_on_validation": train_on_validation,
        "nproc": nproc,  # the effective batch is batch_size x accumulation x processes
    }
    spec = spec_fp(
        data_fp=dataset.data_fp,
        backbone=plan.model.backbone,
        model=model,
        train=train,
        seed=plan.train.seed,
    )
    execution = exec_fp(precision=precision, device_type=device_type())
    return {"data_fp": dataset.data_fp, "spec_fp": spec, "exec_fp": execution}, precision


def _manifest_config(
    plan: TrainingPlan,
    dataset: PreparedDataset,
    *,
    train_on_validation: bool,
    nproc: int,
    precision: str,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model": plan.model.model_dump(mode="json"),
        "train": plan.train.model_dump(mode="json"),
        "final_training": {
            "source": plan.source,
            "train_on_validation": train_on_validation,
            "nproc": nproc,
            "precision": precision,
        },
        "dataset": {"artifact_id": dataset.artifact_id, "labels": list(dataset.labels)},
    }
    if plan.champion is not None:
        config["champion"] = {
            "selection_id": plan.champion.selection_id,
            "backbone": plan.champion.backbone,
            "params": dict(plan.champion.params),
            "trial_id": plan.champion.trial_id,
            "study_artifact_id": plan.champion.study_artifact_id,
        }
    if plan.parent_model_id is not None:
        config["init_from"] = plan.parent_model_id
    return config


def _pinned_variant(
    index: ArtifactIndex,
    *,
    variant: int,
    backbone: str,
    key: str,
    fingerprints: dict[str, str],
    run_mode: str,
) -> ArtifactDecision:
    """``final_training.variant`` set: that variant, reused when complete, resumed if not."""
    from nerp_infra.artifacts.runs import owner_is_stale, owner_token

    if run_mode == "force_new":
        raise FinalTrainingError(
            f"final_training.variant {variant} pins an existing variant but run_mode is "
            "force_new; unset variant to allocate a new one"
        )
    found = index.find(
        MODEL_KIND, stage=FINAL_TRAINING_STAGE, backbone=backbone, key=key, variant=variant
    )
    if not found:
        raise FinalTrainingError(
            f"final_training.variant {variant}: no model artifact "
            f"{FINAL_TRAINING_STAGE}/{backbone}/{key}/v{variant} exists; "
            "unset variant to let run_mode choose"
        )
    artifact = found[0]
    if artifact.manifest.fingerprints != fingerprints:
        raise FinalTrainingError(
            f"final_training.variant {variant}: artifact {artifact.id} was trained with other "
            "fingerprints than this configuration"
        )
    handle = ArtifactHandle(dir=artifact.path, manifest=artifact.read_manifest(), index=index)
    if artifact.status == "complete":
        return ArtifactDecision("reuse", handle, f"pinned variant {variant} is complete")
    if artifact.status == "failed" or not index.claim(
        artifact.id, owner_token(), is_stale=lambda owner: owner_is_stale(owner)
    ):
        raise FinalTrainingError(
            f"final_training.variant {variant}: artifact {artifact.id} is {artifact.status} "
            "and cannot be resumed (failed, or another live process works on it)"
        )
    return ArtifactDecision("resume", handle, f"pinned variant {variant} is incomplete")


@contextlib.contextmanager
def _mlflow_run(
    config: ExperimentConfig,
    *,
    root: Path,
    index: ArtifactIndex,
    handle: ArtifactHandle,
    backbone: str,
    run_mode: str,
) -> Iterator[str | None]:
    if not config.tracking.enabled:  # no run, so no run-name version to reserve either
        yield None
        return
    manifest = handle.manifest
    fps = manifest.fingerprints
    fields: dict[str, Any] = {
        "backbone": backbone,
        "spec8": short(fps["spec_fp"]),
        "exec8": short(fps["exec_fp"]),
        "variant": manifest.variant,
    }
    if "{version}" in config.naming.final_training:
        fields["version"] = index.reserve_run_name(
            f"{FINAL_TRAINING_STAGE}-{backbone}-{manifest.key}"
        )
    tags = build_tags(
        stage=FINAL_TRAINING_STAGE,
        backbone=backbone,
        data_fp=fps["data_fp"],
        spec_fp=fps["spec_fp"],
        exec_fp=fps["exec_fp"],
        lineage=list(manifest.lineage),
        artifact_id=manifest.id,
        artifact_kind=MODEL_KIND,
        variant=manifest.variant,
        run_mode=run_mode,
    )
    with tracked_stage(
        config.tracking,
        root,
        stage=FINAL_TRAINING_STAGE,
        name=config.naming.render("final_training", **fields),
        tags=tags,
        run_key=manifest.id,
        index=index,
    ) as run_id:
        yield run_id


def _log_params(plan: TrainingPlan, manifest: Manifest) -> None:
    from nerp_infra.tracking import log_params

    params: dict[str, Any] = {
        "model": plan.model.model_dump(mode="json"),
        "train": plan.train.model_dump(mode="json"),
        "final_training": manifest.config.get("final_training", {}),
        "dataset_id": manifest.config.get("dataset", {}).get("artifact_id"),
    }
    if plan.champion is not None:
        params["champion"] = {
            "selection_id": plan.champion.selection_id,
            "trial_id": plan.champion.trial_id,
            "study_artifact_id": plan.champion.study_artifact_id,
        }
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # params are immutable: a resumed run has them
        log_params(params)


def _log_training(plan: TrainingPlan, result: TrainingResult, manifest: Manifest) -> None:
    from nerp_infra.tracking import log_metrics

    _log_params(plan, manifest)
    for record in result.history:
        log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
    log_metrics(
        {
            **{f"final_{k}": v for k, v in result.metrics.items()},
            "global_step": result.global_step,
            "train_samples_per_second": result.train_samples_per_second,
        }
    )


def _train(
    plan: TrainingPlan,
    dataset: PreparedDataset,
    *,
    handle: ArtifactHandle,
    resume: bool,
    train_on_validation: bool,
    nproc: int,
    progress: bool,
    callbacks: Sequence[TrainerCallback],
) -> TrainingResult:
    train_docs = list(dataset.train)
    eval_docs = list(dataset.validation) or None
    if train_on_validation:
        train_docs += list(dataset.validation)
        eval_docs = None  # nothing held out is left; the test split stays unseen
    # The same run in one process or across torchrun ranks.
    run: dict[str, Any] = {
        "train_docs": train_docs,
        "eval_docs": eval_docs,
        "entity_types": dataset.labels,
        "model_config": plan.model,
        "train_config": plan.train,
        "output_dir": handle.dir,
        "init_from": plan.init_from,
        "resume": resume,
        "progress": progress,
    }
    if nproc > 1:
        if callbacks:
            raise FinalTrainingError("extra Trainer callbacks cannot cross into torchrun ranks")
        from nerp_training.distributed import run_distributed

        return run_distributed(nproc=nproc, **run)
    from nerp_training.trainer.train import train_model

    return train_model(**run, callbacks=callbacks)


def run_final_training(
    config: ExperimentConfig,
    *,
    output_root: Path | None = None,
    source: str | None = None,
    run_mode: str | None = None,
    progress: bool = True,
    nproc: int | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    dataset_dir: Path | None = None,
    console: Console | None = None,
    selection_id: str | None = None,
    previous_model_id: str | None = None,
    index: ArtifactIndex | None = None,
) -> FinalTrainingOutcome:
    """Train (or reuse, or resume) the final model for ``config``.

    ``source``, ``run_mode`` and ``nproc`` default to the ``final_training`` section.
    ``output_root`` defaults to ``paths`` for the detected platform. ``callbacks`` are
    extra Trainer callbacks (single process only). ``dataset_dir`` trains on that dataset
    artifact (e.g. a folder mounted into an Azure ML job) instead of preparing one from
    ``config.data`` in the output root. ``selection_id`` is the selection artifact
    ``best_selected`` reads and ``previous_model_id`` the model ``final_training`` continues
    (default: the newest complete one of each). ``index`` is the output root's artifact
    index when the caller holds it open (the pipeline stage). ``console`` gets the one
    line saying whether the HPO refit was reused (the log gets it always).
    """
    final = config.final_training
    chosen_source = source or final.source
    try:
        mode = check_run_mode(run_mode or final.run_mode)
    except ValueError as exc:
        raise FinalTrainingError(str(exc)) from None
    processes = nproc or final.nproc
    if chosen_source not in SOURCES:
        raise FinalTrainingError(f"source {chosen_source!r} is not one of {', '.join(SOURCES)}")
    root = Path(output_root or config.paths.resolve_root()).absolute()
    layout = OutputLayout(root, config.paths.layout)
    index = index if index is not None else ArtifactIndex(root)
    dataset = load_or_prepare_dataset(
        config.data, index=index, layout=layout, dataset_dir=dataset_dir
    )
    plan = plan_training(
        config,
        chosen_source,
        index,
        selection_id=selection_id,
        previous_model_id=previous_model_id,
    )
    resolve_backbone(plan.model.backbone)  # an unusable backbone fails before any artifact
    backbone = backbone_component(plan.model.backbone)
    fingerprints, precision = _fingerprints(
        plan, dataset, train_on_validation=final.train_on_validation, nproc=processes
    )
    key = f"spec-{short(fingerprints['spec_fp'])}_exec-{short(fingerprints['exec_fp'])}"
    lineage = [dataset.artifact_id, *plan.lineage]
    if final.variant is not None:
        decision = _pinned_variant(
            index,
            variant=final.variant,
            backbone=backbone,
            key=key,
            fingerprints=fingerprints,
            run_mode=mode,
        )
    else:
        decision = begin_artifact(
            index,
            layout,
            kind=MODEL_KIND,
            stage=FINAL_TRAINING_STAGE,
            backbone=backbone,
            key=key,
            fingerprints=fingerprints,
            lineage=lineage,
            config=_manifest_config(
                plan,
                dataset,
                train_on_validation=final.train_on_validation,
                nproc=processes,
                precision=precision,
            ),
            run_mode=mode,
        )
    handle = decision.handle
    logger.info("final training: %s %s (%s)", decision.action, handle.id, decision.reason)
    if not decision.should_run:
        return FinalTrainingOutcome(
            action="reuse",
            reason=decision.reason,
            artifact_id=handle.id,
            artifact_dir=handle.dir,
            manifest=handle.manifest,
            dataset_id=dataset.artifact_id,
            metrics=dict(handle.manifest.metrics),
        )
    resume = decision.action == "resume"
    check = (
        None
        if resume
        else check_refit(
            plan,
            data_fp=dataset.data_fp,
            exec_fp=fingerprints["exec_fp"],
            index=index,
            train_on_validation=final.train_on_validation,
            nproc=processes,
            enabled=final.reuse_refit,
        )
    )
    note = _refit_note(check)
    if note is not None:
        logger.info("final training: %s", note)
        if console is not None:
            console.print(f"[bold]train[/] {note}", highlight=False)
    if check is not None and check.refit is not None:
        return _reuse_refit(
            config,
            check,
            plan,
            handle,
            dataset,
            root=root,
            index=index,
            backbone=backbone,
            run_mode=mode,
            note=note,
        )
    try:
        with _mlflow_run(
            config, root=root, index=index, handle=handle, backbone=backbone, run_mode=mode
        ) as run_id:
            if run_id is not None:
                handle.update_extra({"mlflow_run_id": run_id})
            result = _train(
                plan,
                dataset,
                handle=handle,
                resume=resume,
                train_on_validation=final.train_on_validation,
                nproc=processes,
                progress=progress,
                callbacks=callbacks,
            )
            (handle.dir / HISTORY_FILE).write_text(
                json.dumps(result.history, indent=1) + "\n", encoding="utf-8"
            )
            if run_id is not None:
                _log_training(plan, result, handle.manifest)
            metrics: dict[str, Any] = dict(result.metrics)
            metrics["train_samples_per_second"] = result.train_samples_per_second
            payload = ModelPayload(
                checkpoint_step=result.checkpoint_step,
                global_step=result.global_step,
                best_epoch=result.best_epoch,
                resumed_from_step=result.resumed_from_step,
                world_size=result.world_size,
                precision=result.precision,
            )
            if plan.champion is not None:
                payload.trial_id = plan.champion.trial_id
            manifest = handle.complete(metrics=metrics, extra=payload.as_extra())
    except KeyboardInterrupt:
        from nerp_training.trainer.checkpoint import TRAINER_DIR

        logger.warning(
            "final training interrupted; %s stays incomplete with its checkpoints under %s: "
            "rerun with run_mode resume_if_incomplete to continue",
            handle.id,
            handle.dir / TRAINER_DIR,
        )
        raise
    except BaseException as exc:
        if handle.status == "incomplete":
            handle.fail(f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return FinalTrainingOutcome(
        action=decision.action,
        reason=decision.reason,
        artifact_id=handle.id,
        artifact_dir=handle.dir,
        manifest=manifest,
        dataset_id=dataset.artifact_id,
        result=result,
        metrics=dict(manifest.metrics),
        refit_note=note,
    )


def _refit_note(check: RefitCheck | None) -> str | None:
    if check is None:
        return None
    refit = check.refit
    if refit is None:
        return f"training the champion; the HPO refit is not reused: {check.reason}"
    return (
        f"reusing the HPO refit of trial {refit.trial_number} ({refit.study_artifact_id}) "
        f"as the final model, not training it again: {check.reason}"
    )


def _reuse_refit(
    config: ExperimentConfig,
    check: RefitCheck,
    plan: TrainingPlan,
    handle: ArtifactHandle,
    dataset: PreparedDataset,
    *,
    root: Path,
    index: ArtifactIndex,
    backbone: str,
    run_mode: str,
    note: str | None,
) -> FinalTrainingOutcome:
    """Complete the new model artifact with the refit's weights (linked, not trained)."""
    refit = check.refit
    assert refit is not None and check.study_dir is not None
    try:
        target = handle.dir / CHECKPOINT_DIR
        if target.exists():  # nothing should be there in a new artifact; never mix files
            shutil.rmtree(target)
        link_checkpoint(refit.checkpoint, target)
        (handle.dir / HISTORY_FILE).write_text("[]\n", encoding="utf-8")
        payload = ModelPayload(reused_refit=refit.record(check.study_dir))
        if plan.champion is not None:
            payload.trial_id = plan.champion.trial_id
        with _mlflow_run(
            config, root=root, index=index, handle=handle, backbone=backbone, run_mode=run_mode
        ) as run_id:
            if run_id is not None:
                payload.mlflow_run_id = run_id
                _log_params(plan, handle.manifest)
                from nerp_infra.tracking import log_params

                log_params({REUSED_REFIT_FIELD: payload.reused_refit})
            manifest = handle.complete(extra=payload.as_extra())
    except BaseException as exc:
        if handle.status == "incomplete":
            handle.fail(f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return FinalTrainingOutcome(
        action="new",
        reason=check.reason,
        artifact_id=handle.id,
        artifact_dir=handle.dir,
        manifest=manifest,
        dataset_id=dataset.artifact_id,
        metrics=dict(manifest.metrics),
        refit_note=note,
    )
