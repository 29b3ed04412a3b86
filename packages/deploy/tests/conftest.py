"""Shared fixtures: one small trained checkpoint, its ONNX package, engines, a live server.

The checkpoint is a tiny BERT trained for a few dozen steps on synthetic resumes (see
``nerp_deploy.convert.toy``), so its predictions are decisive and the int8 parity gate
measures quantisation error rather than argmax noise. Building it and converting it are
the slow parts, so both are session-scoped and shared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from nerp_deploy import OnnxEngine
from nerp_deploy.convert import (
    ConversionResult,
    build_toy_checkpoint,
    convert_checkpoint,
    synthetic_documents,
    torch_predictor,
)
from nerp_deploy.predictor import Predictor
from nerp_infra.documents import Document
from nerp_infra.model_files import CHECKPOINT_DIR, read_inference_settings

NERP = str(Path(sys.executable).parent / "nerp")


@pytest.fixture(scope="session")
def toy_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model artifact: ``nerp.json`` + ``model/`` (HF checkpoint with inference.json)."""
    return build_toy_checkpoint(tmp_path_factory.mktemp("toy") / "model-artifact", steps=80)


@pytest.fixture(scope="session")
def conversion(toy_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> ConversionResult:
    return convert_checkpoint(toy_artifact, tmp_path_factory.mktemp("pkg") / "package")


@pytest.fixture(scope="session")
def package_dir(conversion: ConversionResult) -> Path:
    return conversion.package_dir


@pytest.fixture(scope="session")
def engine_int8(package_dir: Path) -> OnnxEngine:
    return OnnxEngine.load(package_dir, variant="int8", threads=1)


@pytest.fixture(scope="session")
def engine_fp32(package_dir: Path) -> OnnxEngine:
    return OnnxEngine.load(package_dir, variant="fp32", threads=1)


@pytest.fixture(scope="session")
def reference(toy_artifact: Path) -> Predictor:
    """The PyTorch checkpoint behind the same tokeniser, windows and BIO decoding."""
    model_dir = toy_artifact / CHECKPOINT_DIR
    return torch_predictor(model_dir, read_inference_settings(model_dir))


@pytest.fixture(scope="session")
def documents() -> list[Document]:
    """Unseen synthetic resumes (another seed than training), short and long."""
    return [
        *synthetic_documents(12, seed=4242),
        *synthetic_documents(3, seed=4343, min_sections=20, max_sections=30),
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `nerp serve` subprocess on a loopback port."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [NERP, "serve", *args, "--port", str(self.port), "--log-level", "warning"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop it and its workers together
        )
        self.log = log

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def _running(srv: Server) -> Iterator[Server]:
    """A started server, stopped (its process group killed if need be) however the block ends."""
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def run_server(tmp_path: Path) -> Callable[[list[str]], contextlib.AbstractContextManager[Server]]:
    """``with run_server(args) as srv:`` runs `nerp serve ARGS` (environment inherited) for
    one block of a test."""
    logs = iter(range(1_000))

    def start(args: list[str]) -> contextlib.AbstractContextManager[Server]:
        return _running(Server(args, tmp_path / f"server-{next(logs)}.log"))

    return start


@pytest.fixture(scope="session")
def server(package_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`nerp serve` with two uvicorn workers and small limits, so limits are cheap to hit."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    args = [
        str(package_dir),
        "--workers", "2",
        "--threads", "1",
        "--max-text-chars", "3000",
        "--max-batch-texts", "4",
        "--max-file-bytes", "60000",
        "--max-body-bytes", "200000",
    ]  # fmt: skip
    with _running(Server(args, log)) as srv:
        yield srv


@pytest.fixture(scope="session")
def batching_server(
    package_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`nerp serve` with one worker (every request meets the same micro-batcher), fp32 (so
    answers do not depend on batch composition) and a wait long enough that concurrent
    requests surely meet."""
    log = tmp_path_factory.mktemp("batching-server") / "server.log"
    args = [
        str(package_dir),
        "--workers", "1",
        "--threads", "1",
        "--variant", "fp32",
        "--micro-batch-wait-ms", "50",
        "--micro-batch-max-texts", "8",
        "--max-text-chars", "20000",
    ]  # fmt: skip
    with _running(Server(args, log)) as srv:
        yield srv


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with real text (Helvetica), byte offsets computed."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td"]
    for i, line in enumerate(lines):
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"{'0 -18 Td ' if i else ''}({escaped}) Tj")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def make_docx(lines: list[str]) -> bytes:
    import io

    import docx

    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


RESUME_LINES = ["Name: Dana Nguyen", "Skills: python, docker", "Data Engineer based in Oslo."]


@pytest.fixture(scope="session")
def pdf_bytes() -> bytes:
    return make_pdf(RESUME_LINES)


@pytest.fixture(scope="session")
def docx_bytes() -> bytes:
    return make_docx(RESUME_LINES)
