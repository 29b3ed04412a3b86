"""Smoke check run inside the slim (serving-only) virtual environment.

Proves that `pip install nerp-deploy[serve]` gives a working `nerp` without torch or
transformers installed: with ``--package`` (an ONNX package made earlier in the run by the
full workspace) it also predicts from the command line and calls every endpoint of a real
`nerp serve` over HTTP. Standard library only: the slim environment has no test tools.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

FORBIDDEN = ("torch", "transformers", "nerp_training", "nerp_hpo", "nerp_eval")
TEXT = "Name: Dana Nguyen\nSkills: python, docker\nData Engineer based in Oslo."


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def run_nerp(nerp: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([nerp, *args], capture_output=True, text=True, timeout=300)


def check_install(nerp: str) -> None:
    present = [name for name in FORBIDDEN if importlib.util.find_spec(name) is not None]
    check(not present, f"these must not be installed in a serving image: {present}")
    out = run_nerp(nerp, "--version")
    check(out.returncode == 0, f"`nerp --version` failed: {out.stderr}")
    print(out.stdout)
    names = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    check(
        names == {"nerp-infra", "nerp-deploy"},
        f"expected exactly nerp-infra and nerp-deploy, got {sorted(names)}",
    )
    helped = run_nerp(nerp, "--help")
    check(helped.returncode == 0, f"`nerp --help` failed: {helped.stderr}")
    check("warning" not in helped.stderr.lower(), f"plugin warnings: {helped.stderr}")
    for command in ("predict", "serve", "convert"):
        check(command in helped.stdout, f"`nerp {command}` is missing from `nerp --help`")


def check_cli(nerp: str, package: Path) -> None:
    out = run_nerp(nerp, "predict", str(package), "--text", TEXT)
    check(out.returncode == 0, f"`nerp predict` failed: {out.stderr}")
    record = json.loads(out.stdout)
    labels = {e["label"] for e in record["entities"]}
    check("NAME" in labels, f"`nerp predict` found no NAME: {record}")
    for entity in record["entities"]:
        check(TEXT[entity["start"] : entity["end"]] == entity["text"], f"bad offsets: {entity}")
    convert = run_nerp(nerp, "convert", str(package))
    check(
        convert.returncode == 1 and "nerp-deploy[convert]" in convert.stderr,
        f"`nerp convert` without torch should name the extra: {convert.stderr}",
    )
    print(f"cli: predict found {sorted(labels)}; convert names the missing extra")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(
    url: str, body: bytes | None = None, content_type: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post_json(url: str, payload: object) -> tuple[int, Any]:
    return request(url, json.dumps(payload).encode(), "application/json")


def post_file(url: str, name: str, data: bytes, content_type: str) -> tuple[int, Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return request(url, body, f"multipart/form-data; boundary={boundary}")


def check_server(nerp: str, package: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            nerp,
            "serve",
            str(package),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            check(server.poll() is None, "`nerp serve` exited before answering")
            try:
                status, health = request(f"{base}/health")
                if status == 200:
                    break
            except OSError:
                pass
            check(time.monotonic() < deadline, "`nerp serve` did not answer /health in 60s")
            time.sleep(0.3)
        check(health["status"] == "ok", f"/health: {health}")
        status, info = request(f"{base}/info")
        check(status == 200 and info["labels"][0] == "O", f"/info: {status} {info}")
        check(info["versions"]["onnxruntime"] != "absent", f"/info versions: {info['versions']}")
        status, schema = request(f"{base}/openapi.json")
        check(status == 200 and "/predict/file" in schema["paths"], "/openapi.json incomplete")
        status, body = post_json(f"{base}/predict", {"text": TEXT})
        check(
            status == 200 and any(e["label"] == "NAME" for e in body["entities"]),
            f"/predict: {body}",
        )
        status, body = post_json(f"{base}/predict/batch", {"texts": [TEXT, "Skills: sql"]})
        check(status == 200 and len(body["results"]) == 2, f"/predict/batch: {body}")
        status, body = post_file(f"{base}/predict/file", "cv.txt", TEXT.encode(), "text/plain")
        check(
            status == 200 and body["kind"] == "text" and body["entities"], f"/predict/file: {body}"
        )
        status, body = post_json(f"{base}/predict", {"text": ""})
        check(status == 422 and body["error"]["field"] == "text", f"empty text: {status} {body}")
        status, body = post_file(f"{base}/predict/file", "cv.pdf", b"junk", "application/pdf")
        check(status == 422 and body["error"]["field"] == "file", f"corrupt PDF: {status} {body}")
        status, health = request(f"{base}/health")
        check(status == 200, "server stopped answering after bad input")
        print(f"http: every endpoint answered on {base} with 2 workers")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--package", type=Path, help="ONNX package to predict with and serve")
    args = parser.parse_args(argv)
    nerp = shutil.which("nerp")
    try:
        check(nerp is not None, "the `nerp` command is not on PATH")
        assert nerp is not None
        check_install(nerp)
        if args.package is not None:
            check(args.package.is_dir(), f"{args.package}: ONNX package folder does not exist")
            check_cli(nerp, args.package)
            check_server(nerp, args.package)
    except CheckFailed as failure:
        print(f"slim check: {failure}")
        return 1
    print(f"slim check passed on Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
