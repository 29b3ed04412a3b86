"""What the base install promises: engine and commands without torch, FastAPI or pypdf.

A subprocess blocks the optional libraries at import time, as if they were not installed,
then loads the package, predicts, and builds the CLI.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

BLOCKER = """
import importlib.abc, sys
BLOCKED = {"torch", "transformers", "onnx", "onnxscript", "fastapi", "uvicorn", "uvloop",
           "httptools", "pypdf", "docx", "mlflow", "azure"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked (not installed in the base image)")
        return None
sys.meta_path.insert(0, Block())
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )


def test_engine_and_entry_points_work_without_optional_libraries(package_dir: Path) -> None:
    result = run(
        f"""
        import nerp_deploy, nerp_deploy.cli, nerp_deploy.convert, nerp_deploy.convert.cli
        import nerp_deploy.convert.stage, nerp_deploy.azureml_job
        from nerp_deploy import OnnxEngine
        engine = OnnxEngine.load({str(package_dir)!r})
        entities = engine.predict("Name: Dana Nguyen")
        assert [e.text for e in entities if e.label == "NAME"] == ["Dana Nguyen"], entities
        try:
            nerp_deploy.create_app
        except ImportError as exc:
            print("create_app:", exc)
        try:
            nerp_deploy.convert.convert_checkpoint
        except ImportError as exc:
            print("convert:", exc)
        loaded = sorted(m.split(".")[0] for m in sys.modules)
        assert not {{"torch", "transformers", "fastapi"}} & set(loaded)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "create_app: fastapi is blocked" in result.stdout
    assert "convert: onnx is blocked" in result.stdout  # the first [convert] library it needs
    assert result.stdout.strip().endswith("ok")


def test_pdf_input_without_the_serve_extra_names_it(package_dir: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "cv.pdf"
    pdf.write_bytes(b"%PDF-1.4 whatever")
    result = run(
        f"""
        import sys
        from nerp_deploy.cli import predict
        import typer
        try:
            predict({str(package_dir)!r}, file=__import__("pathlib").Path({str(pdf)!r}))
        except typer.Exit as exit:
            print("exit", exit.exit_code)
        """
    )
    assert "exit 1" in result.stdout, result.stderr
    assert "nerp-deploy[serve]" in result.stderr
