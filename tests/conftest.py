"""Shared fixtures for the cross-package tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def workspace_copy(tmp_path: Path) -> Path:
    """A throw-away copy of the packages' metadata, changelogs and sources."""
    dest = tmp_path / "repo"
    for package in (REPO / "packages").iterdir():
        if not (package / "pyproject.toml").exists():
            continue
        target = dest / "packages" / package.name
        target.mkdir(parents=True)
        for name in ("pyproject.toml", "CHANGELOG.md", "README.md"):
            shutil.copy2(package / name, target / name)
        shutil.copytree(
            package / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest
