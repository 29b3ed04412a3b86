"""Every check the project runs, one nox session each; `uv run nox` runs them all.

Environments are made by `uv sync` from the committed uv.lock into the session's virtual
environment, so a package's tests see only that package and its declared dependencies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = ("infra", "training", "hpo", "deploy", "eval")
WORKSPACE_ENV = os.environ.get("UV_PROJECT_ENVIRONMENT") or str(ROOT / ".venv")
"""The developer's workspace environment (read before nox points uv at session venvs)."""


def uv_sync(session: nox.Session, *args: str) -> None:
    """Sync the session's venv from uv.lock (exactly: anything else is removed)."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


@nox.session
@nox.parametrize("package", PACKAGES, ids=list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """One distribution's tests with only that distribution and its declared dependencies."""
    uv_sync(session, "--package", f"nerp-{package}", "--all-extras", "--group", "test")
    session.run("pytest", f"packages/{package}/tests", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """Cross-package tests in the root tests/ folder, against the whole workspace."""
    uv_sync(session, "--all-packages", "--all-extras")
    session.run("pytest", "tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    uv_sync(session, "--only-group", "dev")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    uv_sync(session, "--all-packages", "--all-extras")
    session.run("mypy")


@nox.session
def imports(session: nox.Session) -> None:
    """The import contracts of ARCHITECTURE.md §1, checked by import-linter."""
    uv_sync(session, "--all-packages", "--all-extras")
    session.run("lint-imports")


@nox.session
def release_check(session: nox.Session) -> None:
    """Versions, changelogs, dependency ranges and deprecation shims agree."""
    uv_sync(session, "--only-group", "dev")
    session.run("python", "tools/release.py", "check")


@nox.session(reuse_venv=False)
def slim(session: nox.Session) -> None:
    """Prove the serving install: nerp-deploy[serve] wheels, no torch, predict and HTTP work.

    The ONNX package it serves is made first by the full workspace environment (which has
    torch): a small model trained on synthetic resumes, converted with `nerp convert`.
    The slim venv itself converts nothing.
    """
    tmp = Path(session.create_tmp())
    dist, model, package = tmp / "dist", tmp / "toy-model", tmp / "onnx-package"
    for folder in (dist, model, package):
        shutil.rmtree(folder, ignore_errors=True)
    # nox points UV_PROJECT_ENVIRONMENT at the session venv; these two commands must run in
    # the developer's workspace environment instead, or torch would land in the slim venv.
    workspace = ("uv", "run", "--frozen", "--project", str(ROOT))
    env = {"UV_PROJECT_ENVIRONMENT": WORKSPACE_ENV, "VIRTUAL_ENV": WORKSPACE_ENV}
    session.run(
        *workspace, "python", "-m", "nerp_deploy.convert.toy", str(model), "--steps", "60",
        env=env, external=True,
    )  # fmt: skip
    session.run(
        *workspace, "nerp", "convert", str(model), "--out", str(package),
        "--set", "conversion.parity.n_samples=4",
        env=env, external=True,
    )  # fmt: skip
    for package_name in ("infra", "deploy"):
        session.run(
            "uv", "build", "--no-sources", "--wheel", "--package", f"nerp-{package_name}",
            "--out-dir", str(dist), external=True,
        )  # fmt: skip
    # Fresh wheels keep their version number, so uv's cache must not answer for them.
    session.install(
        "--find-links", str(dist), "--refresh-package", "nerp-infra",
        "--refresh-package", "nerp-deploy", "nerp-deploy[serve]",
    )  # fmt: skip
    session.run("python", "tools/slim_check.py", "--package", str(package), *session.posargs)
