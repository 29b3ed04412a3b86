"""tools/release.py: bumps, changelog moves, tags and the refusals that protect users."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load_release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nerp_release_tool", REPO / "tools/release.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = _load_release()


def _version(root: Path, name: str) -> str:
    text = (root / "packages" / name / "pyproject.toml").read_text()
    match = re.search(r'^version = "(.+)"$', text, re.MULTILINE)
    assert match is not None
    return match[1]


def _with_change(root: Path, name: str) -> Path:
    """Give ``name`` an Unreleased entry, so a bump has something to release."""
    path = root / "packages" / name / "CHANGELOG.md"
    path.write_text(
        path.read_text().replace(
            "## [Unreleased]\n", "## [Unreleased]\n\n### Added\n- a change to release\n", 1
        )
    )
    return path


def _next(root: Path, name: str, part: str) -> str:
    """The version ``part`` bumps ``name`` to, from whatever the repository holds now."""
    return str(release.next_version(release.Version(_version(root, name)), part))


def test_check_passes_on_the_repository() -> None:
    assert release.check(REPO) == []


def test_bump_patch_moves_changelog_and_names_the_tag(workspace_copy: Path) -> None:
    changelog_path = _with_change(workspace_copy, "eval")
    patch = _next(workspace_copy, "eval", "patch")
    tag = release.bump(workspace_copy, "eval", "patch", "2026-11-23", dry_run=False, lock=False)
    assert tag == f"nerp-eval-v{patch}"
    assert _version(workspace_copy, "eval") == patch
    changelog = changelog_path.read_text()
    unreleased, released = release.changelog_sections(changelog, Path("CHANGELOG.md"))
    assert not any(line.strip() for line in unreleased)
    assert released[0] == (release.Version(patch), "2026-11-23")
    assert changelog.index(f"## [{patch}] - 2026-11-23") < changelog.index("- a change to release")
    assert release.check(workspace_copy) == []
    # nothing left to release: a second bump is refused
    with pytest.raises(release.ReleaseError, match="lists no changes"):
        release.bump(workspace_copy, "eval", "patch", "2026-11-24", dry_run=False, lock=False)


def test_bump_refused_when_a_sibling_range_excludes_the_new_version(workspace_copy: Path) -> None:
    before = _version(workspace_copy, "infra")
    minor = _next(workspace_copy, "infra", "minor")
    with pytest.raises(release.ReleaseError) as excinfo:
        release.bump(workspace_copy, "infra", "minor", "2026-11-23", dry_run=False, lock=False)
    message = str(excinfo.value)
    assert f"nerp-infra {minor}" in message
    assert "packages/training/pyproject.toml" in message
    assert _version(workspace_copy, "infra") == before, "a refused bump must change nothing"


def test_bump_refused_while_a_due_shim_remains(workspace_copy: Path) -> None:
    _with_change(workspace_copy, "deploy")
    minor = _next(workspace_copy, "deploy", "minor")
    shim = workspace_copy / "packages/deploy/src/nerp_deploy/old_engine.py"
    shim.write_text(
        "from nerp_infra.deprecation import moved_module\n\n"
        f'moved_module(__name__, "nerp_deploy", since="0.1.0", removed_in="{minor}")\n'
    )
    # a patch release may keep it ...
    patch = _next(workspace_copy, "deploy", "patch")
    assert release.bump(workspace_copy, "deploy", "patch", "2026-11-23", True, False).endswith(
        f"v{patch}"
    )
    # ... the release that is due to remove it may not
    with pytest.raises(
        release.ReleaseError, match=rf"old_engine.py:3: shim due for removal in {minor}"
    ):
        release.bump(workspace_copy, "deploy", "minor", "2026-11-23", dry_run=True, lock=False)


def test_a_deprecated_cli_option_holds_back_the_release_that_removes_it(
    workspace_copy: Path,
) -> None:
    _with_change(workspace_copy, "training")
    minor = _next(workspace_copy, "training", "minor")
    option = workspace_copy / "packages/training/src/nerp_training/commands/old_option.py"
    option.write_text(
        "from nerp_infra.deprecation import deprecated_option\n\n"
        f'OLD = deprecated_option("nerp train --old", "nerp train --new", since="0.1.0", '
        f'removed_in="{minor}")\n'
    )
    with pytest.raises(release.ReleaseError, match=r"old_option.py:\d+: shim due for removal"):
        release.bump(workspace_copy, "training", "minor", "2026-11-23", dry_run=True, lock=False)


def test_check_reports_inconsistencies(workspace_copy: Path) -> None:
    later = _next(workspace_copy, "hpo", "major")  # newer than anything released
    changelog = workspace_copy / "packages/hpo/CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace(
            "## [Unreleased]\n", f"## [Unreleased]\n\n## [{later}] - 2026-01-01\n\n- later\n", 1
        )
    )
    current = _version(workspace_copy, "training")
    far = _next(workspace_copy, "training", "major")  # outside every sibling's range
    pyproject = workspace_copy / "packages/training/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(f'version = "{current}"', f'version = "{far}"')
    )
    problems = "\n".join(release.check(workspace_copy))
    assert f"newest release {later} differs" in problems
    assert f"excludes nerp-training {far}" in problems


def test_cli_exit_codes(workspace_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["--root", str(workspace_copy), "check"]) == 0
    assert release.main(["--root", str(workspace_copy), "bump", "infra", "major", "--dry-run"]) == 1
    assert "refusing to release nerp-infra 1.0.0" in capsys.readouterr().err
