"""Pipeline stages contributed by nerp-training (``nerp.stages`` entry points)."""

from __future__ import annotations

from nerp_infra.fingerprints import short
from nerp_infra.pipeline import StageContext, StageResult
from nerp_training.data import prepare_dataset


def data_stage(ctx: StageContext) -> StageResult:
    """Synthesise or import the documents, validate them and split them (dataset artifact)."""
    config = ctx.config.data
    # The dataset is a pure function of the data config, so reuse is always safe.
    dataset = prepare_dataset(
        config, index=ctx.index, layout=ctx.layout, run_mode=ctx.run_mode("reuse_if_exists")
    )
    sizes = {split: len(docs) for split, docs in dataset.splits.items()}
    summary = (
        f"{sum(sizes.values())} docs (train {sizes['train']}, validation {sizes['validation']}, "
        f"test {sizes['test']}), data_fp {short(dataset.data_fp)}"
    )
    return StageResult(
        status="reused" if dataset.reused else "done",
        artifact_ids=(dataset.artifact_id,),
        summary=summary,
        details={"dataset": f"{dataset.artifact_dir} ({summary})"},
    )
