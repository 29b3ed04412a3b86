"""`nerp pipeline --target azureml`, submitted for real to a local stand-in of the workspace.

Every stage but ``data`` becomes an Azure ML job built by its package (the HPO sweep, the
final-training and conversion command jobs, generic ``nerp pipeline --only <stage>`` jobs
for the rest). ``LocalMLClient`` runs each job's own command as a local process, with its
inputs and outputs as folders, and MLflow pointed at a "workspace" database, as Azure ML
would. What comes back must be in the local index: every artifact once, with the Azure
job that made it, linked from the ONNX package back to the local dataset.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("azure.ai.ml", reason="needs the [azure] extras (nox e2e session)")

from azureml_local import LocalMLClient

import nerp_infra.azureml
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.azureml import AZUREML_JOB_EXTRA, Workspace, WorkspaceSettings
from nerp_infra.cli import build_app

FAST = [
    "data.synthetic.n_documents=60",
    "hpo.n_trials=2",
    "hpo.k_folds=2",
    "hpo.search_space.batch_size.values=[8]",
    "hpo.search_space.learning_rate.low=0.003",
    "train.epochs=1",
    "benchmark.iterations=2",
    "benchmark.batch_sizes=[1]",
    "benchmark.n_texts=2",
    "conversion.parity.n_samples=2",
]
REMOTE_KINDS = {"study", "selection", "model", "onnx_package", "evaluation", "benchmark", "report"}


def test_every_stage_runs_as_a_job_and_its_artifacts_come_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "outputs"
    client = LocalMLClient(
        tmp_path / "workspace",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'workspace-mlflow.db'}"},
    )
    settings = WorkspaceSettings(subscription_id="s", resource_group="rg", workspace_name="ws")
    monkeypatch.setattr(
        nerp_infra.azureml, "connect_workspace", lambda *_: Workspace(settings, client)
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    app, errors = build_app()
    assert not errors
    args = ["pipeline", "--target", "azureml", "--output-root", str(root)]
    for override in FAST:
        args += ["--set", override]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output + repr(result.exception)
    jobs = {job.name: job for job in client.jobs.jobs.values() if job.parent is None}
    assert all(job.status == "Completed" for job in client.jobs.jobs.values())
    index = ArtifactIndex(root)
    made = [item for item in index.find() if item.manifest.kind != "dataset"]
    assert {item.manifest.kind for item in made} == REMOTE_KINDS
    for item in made:  # every one came from a job, and only once (not from the jobs' copies)
        assert item.status == "complete"
        assert item.manifest.extra[AZUREML_JOB_EXTRA]["job_name"] in jobs
        assert item.path.is_relative_to(root)
    for kind in REMOTE_KINDS - {"evaluation"}:
        assert len(index.find(kind=kind)) == 1, kind
    assert len(index.find(kind="evaluation")) == len(
        {item.manifest.extra["backend"] for item in index.find(kind="evaluation")}
    )
    recorded = {item.manifest.kind: item for item in made}
    (dataset,) = index.find(kind="dataset")
    assert AZUREML_JOB_EXTRA not in dataset.manifest.extra  # data runs locally
    # the model ran as `scratch` with the champion's settings; its selection is still a parent
    assert recorded["selection"].id in recorded["model"].manifest.lineage
    chain = {item.manifest.kind for item in index.lineage(recorded["onnx_package"].id)}
    assert chain >= {"model", "selection", "study", "dataset"}
    assert re.search(r"hpo\s.*submitted", result.output)
