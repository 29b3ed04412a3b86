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


def test_check_passes_on_the_repository() -> None:
    assert release.check(REPO) == []


def test_bump_patch_moves_changelog_and_names_the_tag(workspace_copy: Path) -> None:
    tag = release.bump(workspace_copy, "eval", "patch", "2026-11-23", dry_run=False, lock=False)
    assert tag == "nerp-eval-v0.1.1"
    assert _version(workspace_copy, "eval") == "0.1.1"
    changelog = (workspace_copy / "packages/eval/CHANGELOG.md").read_text()
    unreleased, released = release.changelog_sections(changelog, Path("CHANGELOG.md"))
    assert not any(line.strip() for line in unreleased)
    assert released[0] == (release.Version("0.1.1"), "2026-11-23")
    assert changelog.index("## [0.1.1] - 2026-11-23") < changelog.index("### Added")
    assert release.check(workspace_copy) == []
    # nothing left to release: a second bump is refused
    with pytest.raises(release.ReleaseError, match="lists no changes"):
        release.bump(workspace_copy, "eval", "patch", "2026-11-24", dry_run=False, lock=False)


def test_bump_refused_when_a_sibling_range_excludes_the_new_version(workspace_copy: Path) -> None:
    with pytest.raises(release.ReleaseError) as excinfo:
        release.bump(workspace_copy, "infra", "minor", "2026-11-23", dry_run=False, lock=False)
    message = str(excinfo.value)
    assert "nerp-infra 0.2.0" in message
    assert "packages/training/pyproject.toml" in message
    assert _version(workspace_copy, "infra") == "0.1.0", "a refused bump must change nothing"


def test_bump_refused_while_a_due_shim_remains(workspace_copy: Path) -> None:
    shim = workspace_copy / "packages/deploy/src/nerp_deploy/old_engine.py"
    shim.write_text(
        "from nerp_infra.deprecation import moved_module\n\n"
        'moved_module(__name__, "nerp_deploy", since="0.1.0", removed_in="0.2.0")\n'
    )
    # a patch release may keep it ...
    assert release.bump(workspace_copy, "deploy", "patch", "2026-11-23", True, False).endswith(
        "v0.1.1"
    )
    # ... the release that is due to remove it may not
    with pytest.raises(
        release.ReleaseError, match=r"old_engine.py:3: shim due for removal in 0.2.0"
    ):
        release.bump(workspace_copy, "deploy", "minor", "2026-11-23", dry_run=True, lock=False)


def test_a_deprecated_cli_option_holds_back_the_release_that_removes_it(
    workspace_copy: Path,
) -> None:
    # nerp-training's `--azureml-job` is declared with deprecated_option(removed_in="0.2.0")
    with pytest.raises(release.ReleaseError, match=r"train_cmd.py:\d+: shim due for removal"):
        release.bump(workspace_copy, "training", "minor", "2026-11-23", dry_run=True, lock=False)


def test_check_reports_inconsistencies(workspace_copy: Path) -> None:
    changelog = workspace_copy / "packages/hpo/CHANGELOG.md"
    changelog.write_text(changelog.read_text() + "\n## [0.3.0] - 2026-01-01\n\n- later\n")
    pyproject = workspace_copy / "packages/training/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.4.0"'))
    problems = "\n".join(release.check(workspace_copy))
    assert "newest release 0.3.0 differs" in problems
    assert "excludes nerp-training 0.4.0" in problems


def test_cli_exit_codes(workspace_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["--root", str(workspace_copy), "check"]) == 0
    assert release.main(["--root", str(workspace_copy), "bump", "infra", "major", "--dry-run"]) == 1
    assert "refusing to release nerp-infra 1.0.0" in capsys.readouterr().err
