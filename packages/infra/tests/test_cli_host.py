"""The `nerp` host discovers commands from entry points and survives broken plugins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from nerp_infra.cli import build_app
from nerp_infra.plugins import installed_nerp_distributions


def _run_nerp(*args: str, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", "from nerp_infra.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _fake_distribution(root: Path, entry_points: str) -> None:
    info = root / "nerp_fakeplugin-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nerp-fakeplugin\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_version_lists_installed_distributions() -> None:
    result = _run_nerp("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "nerp-infra" in {line.split()[0] for line in lines}
    assert lines == [f"{n} {v}" for n, v in installed_nerp_distributions().items()]


def test_doctor_reports_platform_python_and_distributions() -> None:
    app, _ = build_app()
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for expected in ("platform", "python", "nerp-infra", "pydantic"):
        assert expected in result.output


def test_plugin_commands_are_mounted(tmp_path: Path) -> None:
    (tmp_path / "nerp_fake_cmds.py").write_text(
        "import typer\n"
        "group = typer.Typer()\n"
        "@group.command()\n"
        "def hello() -> None:\n"
        "    print('hello from a plugin group')\n"
        "def single() -> None:\n"
        "    print('single command')\n"
    )
    _fake_distribution(
        tmp_path,
        "[nerp.commands]\nfake = nerp_fake_cmds:group\nsingle = nerp_fake_cmds:single\n",
    )
    grouped = _run_nerp("fake", "hello", extra_path=tmp_path)
    assert grouped.returncode == 0, grouped.stderr
    assert "hello from a plugin group" in grouped.stdout
    single = _run_nerp("single", extra_path=tmp_path)
    assert "single command" in single.stdout


def test_broken_plugin_is_reported_not_fatal(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "[nerp.commands]\nbroken = nerp_missing_module:app\n")
    result = _run_nerp("--help", extra_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nerp-fakeplugin" in result.stderr
    assert "'broken'" in result.stderr
    assert "ModuleNotFoundError" in result.stderr
    assert "doctor" in result.stdout, "the healthy commands are still there"


def test_a_command_name_claimed_twice_is_reported(tmp_path: Path) -> None:
    (tmp_path / "nerp_fake_doctor.py").write_text("def doctor() -> None:\n    print('impostor')\n")
    _fake_distribution(tmp_path, "[nerp.commands]\ndoctor = nerp_fake_doctor:doctor\n")
    result = _run_nerp("doctor", extra_path=tmp_path)
    assert "'doctor' is also provided by" in result.stderr
    assert result.returncode == 0
