"""MLflow runs of a study: a parent run per study, a nested run per trial and per fold, and
a refit run linked to its trial.

Workers in other processes attach their trial runs to the parent through its run id,
which the study keeps as a user attribute. Optuna's study and trial attributes are
mirrored as tags (``optuna.study.<name>``, ``optuna.trial.<name>``) so the MLflow UI and
nerp-eval, which never open the study storage, see the CV scores and the best trial.
A pruned trial's run ends FINISHED with ``nerp.status_reason=pruned``: pruning is the
search working, not a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import optuna

from nerp_infra.artifacts.kinds import HPO_STAGE
from nerp_infra.config import NamingConfig
from nerp_infra.tags import build_tags, register_tag, tag_name
from nerp_infra.tracking import log_metrics, log_params, start_run

__all__ = [
    "HPO_STAGE",
    "StudyTracker",
    "mirror_tags",
    "parent_run_key",
]


register_tag("hpo_trial_run_id", "MLflow run id of the HPO trial a refit run retrains")
register_tag("study_version", "version of the Optuna study (the study artifact's variant)")

_MAX_TAG = 5000


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:_MAX_TAG]


def mirror_tags(prefix: str, attrs: Mapping[str, Any]) -> dict[str, str]:
    """Optuna attributes as MLflow tags ``<prefix>.<name>`` (values JSON, capped)."""
    return {f"{prefix}.{key}": _tag_value(value) for key, value in attrs.items()}


def parent_run_key(study_name: str) -> str:
    """The index's key for a study's MLflow parent run (how a resumed study finds it)."""
    return f"hpo-parent:{study_name}"


@dataclass
class StudyTracker:
    """Opens the runs of one study; every method is a no-op when tracking is disabled."""

    enabled: bool
    naming: NamingConfig
    prefix: str
    study_base: str
    backbone: str
    version: int
    study_name: str
    tags: dict[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None

    def _names(self) -> dict[str, Any]:
        return {"study": self.study_base, "backbone": self.backbone, "version": self.version}

    def _tags(self, **values: Any) -> dict[str, str]:
        return build_tags(
            **{
                "backbone": self.backbone,
                "study_name": self.study_name,
                "study_version": self.version,
                **self.tags,
                **values,
            }
        )

    @contextmanager
    def parent(
        self, *, index: Any = None, params: Mapping[str, Any] | None = None
    ) -> Iterator[str | None]:
        """The study's parent run, resumed when the study is (keyed by the study name)."""
        if not self.enabled:
            yield None
            return
        with start_run(
            HPO_STAGE,
            self.naming.render("hpo_parent", **self._names()),
            tags=self._tags(role="parent"),
            prefix=self.prefix,
            run_key=parent_run_key(self.study_name),
            index=index,
        ) as run_id:
            self.parent_run_id = run_id
            if params:
                _log_params_once(params)
            yield run_id

    @contextmanager
    def _prunable_run(
        self,
        name: str,
        tags: dict[str, str],
        *,
        parent_run_id: str | None,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[str | None]:
        """A nested run (trial, fold, refit) that a pruned trial ends FINISHED, tagged pruned;
        the ``TrialPruned`` is raised again once the run is closed, for Optuna to see."""
        pruned: optuna.TrialPruned | None = None
        with start_run(
            HPO_STAGE, name, tags=tags, prefix=self.prefix, nested=True, parent_run_id=parent_run_id
        ) as run_id:
            if params is not None:
                log_params(dict(params))
            try:
                yield run_id
            except optuna.TrialPruned as exc:
                _set_tags({tag_name("status_reason"): "pruned"})
                pruned = exc
        if pruned is not None:
            raise pruned

    @contextmanager
    def trial(self, number: int, params: Mapping[str, Any]) -> Iterator[str | None]:
        """A trial's run under the parent; a pruned trial ends FINISHED, tagged pruned."""
        if not self.enabled:
            yield None
            return
        with self._prunable_run(
            self.naming.render("trial", trial=number, **self._names()),
            self._tags(role="trial", trial_number=number),
            parent_run_id=self.parent_run_id,
            params=params,
        ) as run_id:
            yield run_id

    @contextmanager
    def fold(self, number: int, fold: int, trial_run_id: str | None) -> Iterator[str | None]:
        """A fold's run under its trial's run."""
        if not self.enabled:
            yield None
            return
        with self._prunable_run(
            self.naming.render("fold", trial=number, fold=fold, **self._names()),
            self._tags(role="fold", trial_number=number, fold=fold),
            parent_run_id=trial_run_id,
        ) as run_id:
            yield run_id

    @contextmanager
    def refit(
        self,
        number: int,
        *,
        trial_run_id: str | None,
        spec_fp: str,
        exec_fp: str,
        params: Mapping[str, Any],
    ) -> Iterator[str | None]:
        """The refit run under the parent, tagged with the trial (and its run) it retrains."""
        if not self.enabled:
            yield None
            return
        name = self.naming.render(
            "refit", trial=number, spec8=spec_fp[:8], exec8=exec_fp[:8], **self._names()
        )
        tags = self._tags(
            role="refit",
            trial_number=number,
            spec_fp=spec_fp,
            exec_fp=exec_fp,
            hpo_trial_run_id=trial_run_id,
        )
        with self._prunable_run(
            name, tags, parent_run_id=self.parent_run_id, params=params
        ) as run_id:
            yield run_id

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Numeric metrics on the active run (the innermost of parent, trial, fold)."""
        if self.enabled:
            log_metrics(metrics, step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self.enabled:
            _set_tags(tags)

    def set_run_tags(self, run_id: str | None, tags: Mapping[str, str]) -> None:
        """Tags on a run that need not be active (the parent, from the study's process)."""
        if not self.enabled or run_id is None:
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for key, value in tags.items():
            client.set_tag(run_id, key, value)


def _set_tags(tags: Mapping[str, str]) -> None:
    import mlflow

    if tags:
        mlflow.set_tags(dict(tags))


def _log_params_once(params: Mapping[str, Any]) -> None:
    """Params of a resumed parent run: MLflow refuses to change a logged value, so only
    the ones not logged yet are sent."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return
    logged = mlflow.tracking.MlflowClient().get_run(run.info.run_id).data.params
    from nerp_infra.tracking import flatten

    fresh = {k: v for k, v in flatten(params).items() if k not in logged}
    if fresh:
        log_params(fresh)
