"""MLflow setup and the few run helpers every stage uses.

One experiment per stage, runs tagged from the tag registry, and every run records the
process and host that started it, so runs left ``RUNNING`` by a killed process can be
found and marked failed instead of looking alive forever. MLflow is an optional extra
(``nerp-infra[mlflow]``) and is imported only inside these functions.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerp_infra.artifacts.runs import pid_is_alive
from nerp_infra.console import log_to
from nerp_infra.tags import build_tags, tag_name

if TYPE_CHECKING:
    from nerp_infra.artifacts.index import ArtifactIndex
    from nerp_infra.config import TrackingConfig

__all__ = [
    "DEFAULT_DB_NAME",
    "MAX_PARAM_VALUE",
    "ensure_experiment",
    "experiment_name",
    "fail_stale_runs",
    "flatten",
    "log_artifacts",
    "log_metrics",
    "log_params",
    "resolve_tracking_uri",
    "setup_mlflow",
    "start_run",
    "tracked_stage",
]

DEFAULT_DB_NAME = "mlflow.db"
ARTIFACTS_DIR_NAME = "mlartifacts"
MAX_PARAM_VALUE = 6000  # MLflow's limit on a param value
MAX_KEY_LENGTH = 250  # MLflow's limit on param and metric keys
_TRUNCATED = "…[truncated]"

_artifact_roots: dict[str, Path] = {}
"""Artifact location per tracking URI set up here, for experiments this module creates."""


def _require_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "MLflow tracking needs the mlflow extra: pip install 'nerp-infra[mlflow]'"
        ) from exc
    return mlflow


# -- setup ------------------------------------------------------------------------------


# MLflow's set_tracking_uri also exports MLFLOW_TRACKING_URI; remember what nerp exported so a
# later setup (another output root in the same process) is not captured by it.
_exported_by_setup: dict[str, str] = {}


def resolve_tracking_uri(
    uri: str | None = None,
    config_uri: str | None = None,
    *,
    output_root: Path | str,
) -> str:
    """The tracking URI: argument, else ``MLFLOW_TRACKING_URI``, else config, else a
    SQLite database in the output root (so a laptop run needs no server)."""
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env is not None and from_env == _exported_by_setup.get("uri"):
        from_env = None  # mlflow.set_tracking_uri exported it; the user did not choose it
    for candidate in (uri, from_env, config_uri):
        if candidate:
            return candidate
    root = Path(output_root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / DEFAULT_DB_NAME).as_posix()}"


def _local_artifact_root(uri: str) -> Path | None:
    """For a local SQLite store, keep artifacts next to the database instead of in
    ``./mlruns`` of whatever the working directory happens to be."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    db = uri[len(prefix) :]
    if not db or db == ":memory:":
        return None
    return Path(db).absolute().parent / ARTIFACTS_DIR_NAME


def setup_mlflow(
    uri: str | None = None,
    *,
    config_uri: str | None = None,
    output_root: Path | str,
) -> str:
    """Point MLflow at the resolved tracking URI (see :func:`resolve_tracking_uri`)."""
    log_to(output_root)  # MLflow's own messages go to the run's log file
    mlflow = _require_mlflow()
    resolved = resolve_tracking_uri(uri, config_uri, output_root=output_root)
    user_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(resolved)
    if os.environ.get("MLFLOW_TRACKING_URI") != user_env:
        _exported_by_setup["uri"] = resolved
    artifact_root = _local_artifact_root(resolved)
    if artifact_root is not None:
        _artifact_roots[resolved] = artifact_root
    return resolved


def experiment_name(prefix: str, stage: str) -> str:
    """One experiment per stage: ``<prefix>-<stage>`` (no '/', which Azure ML rejects)."""
    if not prefix or not stage:
        raise ValueError(
            f"experiment prefix and stage must be non-empty, got {prefix!r}, {stage!r}"
        )
    if "/" in prefix or "/" in stage:
        raise ValueError(f"experiment prefix {prefix!r} and stage {stage!r} must not contain '/'")
    return f"{prefix}-{stage}"


def ensure_experiment(name: str) -> str:
    """Id of the experiment, creating (or restoring) it; safe when processes race."""
    mlflow = _require_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    root = _artifact_roots.get(mlflow.get_tracking_uri())
    location = (root / name).as_uri() if root is not None else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:
        found = client.get_experiment_by_name(name)  # another process won the race
        if found is None:
            raise
        return str(found.experiment_id)


# -- runs -------------------------------------------------------------------------------


@contextmanager
def start_run(
    stage: str,
    run_name: str,
    *,
    tags: Mapping[str, str] | None = None,
    prefix: str = "nerp",
    nested: bool = False,
    parent_run_id: str | None = None,
    run_id: str | None = None,
    run_key: str | None = None,
    index: ArtifactIndex | None = None,
) -> Iterator[str]:
    """Run a block inside an MLflow run of the stage's experiment; yields the run id.

    Tags get ``nerp.stage``, ``nerp.pid``, ``nerp.host`` (for :func:`fail_stale_runs`),
    ``nerp.schema_version`` and ``nerp.platform`` on top of ``tags``. ``nested`` puts the
    run under the active run; ``parent_run_id`` under a run of another process (HPO
    workers). ``run_id`` resumes an existing run; with ``run_key`` and ``index`` the run
    for that key is looked up and resumed, or started and remembered. The run ends
    FINISHED, FAILED on an exception, or KILLED on Ctrl-C, with ``nerp.status_reason``.
    """
    mlflow = _require_mlflow()
    from mlflow.exceptions import MlflowException

    if run_key is not None and index is not None and run_id is None:
        known = index.get_run_id(run_key)
        if known is not None:
            try:
                mlflow.tracking.MlflowClient().get_run(known)
                run_id = known
            except MlflowException:
                run_id = None  # the tracking store was reset: start afresh
    run_tags = {
        **build_tags(stage=stage, pid=os.getpid(), host=socket.gethostname(), run_key=run_key),
        **(tags or {}),
    }
    if run_id is not None:
        run = mlflow.start_run(run_id=run_id, nested=nested, tags=run_tags)
    else:
        run = mlflow.start_run(
            experiment_id=ensure_experiment(experiment_name(prefix, stage)),
            run_name=run_name,
            nested=nested,
            parent_run_id=parent_run_id,
            tags=run_tags,
        )
    current = str(run.info.run_id)
    if run_key is not None and index is not None:
        index.set_run_id(run_key, current)
    reason_tag = tag_name("status_reason")
    try:
        yield current
    except GeneratorExit:
        raise
    except KeyboardInterrupt:
        mlflow.set_tag(reason_tag, "interrupted")
        mlflow.end_run(status="KILLED")
        raise
    except BaseException as exc:
        mlflow.set_tag(reason_tag, f"exception: {type(exc).__name__}: {exc}"[:500])
        mlflow.end_run(status="FAILED")
        raise
    else:
        active = mlflow.active_run()
        if active is not None and active.info.run_id == current:
            mlflow.end_run(status="FINISHED")


@contextmanager
def tracked_stage(
    tracking: TrackingConfig | None,
    output_root: Path | str,
    *,
    stage: str,
    name: str,
    tags: Mapping[str, str] | None = None,
    run_key: str | None = None,
    index: ArtifactIndex | None = None,
) -> Iterator[str | None]:
    """The MLflow run of one stage, or ``None`` when tracking is off.

    Every stage that records a run goes through this: it points MLflow at the configured
    (or output-root) tracking URI and opens :func:`start_run` in the stage's experiment
    with the configured prefix, so a stage only decides what to log when it gets a run id.
    """
    if tracking is None or not tracking.enabled:
        yield None
        return
    setup_mlflow(config_uri=tracking.uri, output_root=output_root)
    with start_run(
        stage,
        name,
        tags=tags,
        prefix=tracking.experiment_prefix,
        run_key=run_key,
        index=index,
    ) as run_id:
        yield run_id


def flatten(values: Mapping[str, Any], parent: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys: ``{"train": {"lr": 1e-4}}`` → ``{"train.lr": 1e-4}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{parent}.{key}" if parent else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def _check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"key {key[:60]!r}… has {len(key)} characters; MLflow allows {MAX_KEY_LENGTH}"
        )
    return key


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float) or value is None:
        text = str(value)
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > MAX_PARAM_VALUE:
        text = text[: MAX_PARAM_VALUE - len(_TRUNCATED)] + _TRUNCATED
    return text


def log_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Log (nested) params on the active run, flattened with dots and truncated to
    MLflow's value limit; returns what was logged."""
    mlflow = _require_mlflow()
    logged = {_check_key(k): _param_text(v) for k, v in flatten(params).items()}
    if logged:
        mlflow.log_params(logged)
    return logged


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> dict[str, float]:
    """Log (nested) numeric metrics on the active run; ``None`` values are skipped and a
    non-numeric value is an error naming its key."""
    mlflow = _require_mlflow()
    logged: dict[str, float] = {}
    for key, value in flatten(metrics).items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            logged[_check_key(key)] = float(value)
        else:
            raise TypeError(f"metric {key!r} must be a number, got {type(value).__name__}")
    if logged:
        mlflow.log_metrics(logged, step=step)
    return logged


def log_artifacts(directory: Path | str, artifact_path: str | None = None) -> None:
    """Upload a directory's files to the active run's artifacts."""
    mlflow = _require_mlflow()
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot log artifacts from {folder}: not a directory")
    mlflow.log_artifacts(str(folder), artifact_path=artifact_path)


# -- killed runs ------------------------------------------------------------------------


def _is_stale(run: Any, now_ms: int, older_than_s: float | None) -> bool:
    tags = run.data.tags
    pid = tags.get(tag_name("pid"), "")
    host = tags.get(tag_name("host"))
    if pid.isdigit() and host == socket.gethostname():
        return not pid_is_alive(int(pid))
    if older_than_s is None:
        return False  # another host's process cannot be probed: only age can condemn it
    return bool(run.info.start_time) and run.info.start_time < now_ms - older_than_s * 1000


def fail_stale_runs(
    experiment_names: Iterable[str] | None = None,
    *,
    older_than_s: float | None = None,
) -> list[str]:
    """Mark runs left RUNNING by dead processes as FAILED with ``nerp.status_reason=killed``.

    A run started on this host is stale when its ``nerp.pid`` process is gone (a reused
    pid keeps a dead run looking alive: the check errs on the safe side). Runs from
    other hosts (or without the tags) cannot be probed; they are failed only when
    ``older_than_s`` is given and they started longer ago than that. Looks in the named
    experiments, or in every active experiment. Returns the failed run ids.
    """
    _require_mlflow()
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    if experiment_names is None:
        ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    else:
        ids = []
        for name in experiment_names:
            found = client.get_experiment_by_name(name)
            if found is not None:
                ids.append(found.experiment_id)
    if not ids:
        return []
    now_ms = int(time.time() * 1000)
    failed: list[str] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            ids,
            filter_string="attributes.status = 'RUNNING'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        for run in page:
            if _is_stale(run, now_ms, older_than_s):
                client.set_tag(run.info.run_id, tag_name("status_reason"), "killed")
                client.set_terminated(run.info.run_id, status="FAILED")
                failed.append(str(run.info.run_id))
        token = page.token
        if not token:
            break
    return failed
