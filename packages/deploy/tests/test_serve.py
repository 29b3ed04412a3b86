"""The HTTP API over a real `nerp serve` process with two uvicorn workers.

Limits in the fixture: 3000 characters per text, 4 texts per batch, 60000 bytes per file,
200000 bytes per JSON body.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest

from nerp_deploy import OnnxEngine, ServeSettings, create_app
from nerp_deploy.extract import DOCX_TYPE

if TYPE_CHECKING:
    from conftest import Server

TEXT = "Name: Dana Nguyen\nSkills: python, docker\nData Engineer based in Oslo."


def _error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert error["field"] == field
    assert error["message"]
    return error


def _spans(entities: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    return [(e["text"], e["label"], e["start"], e["end"]) for e in entities]


def _names(entities: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in entities if e["label"] == "NAME"]


def test_health(server: Server) -> None:
    body = httpx.get(f"{server.url}/health").json()
    assert body["status"] == "ok" and body["variant"] == "int8"
    assert body["model"].startswith("onnx_package-")


def test_info_lists_model_labels_settings_versions_lineage_and_limits(
    server: Server, engine_int8: OnnxEngine
) -> None:
    info = httpx.get(f"{server.url}/info").json()
    assert info["labels"] == list(engine_int8.labels)
    assert info["settings"] == {
        "max_length": 64,
        "stride": 16,
        "label_all_subtokens": False,
        "label_scheme": "BIO",
    }
    assert info["lineage"] == engine_int8.info()["lineage"] != []
    assert info["versions"]["fastapi"] != "absent" and info["versions"]["nerp-deploy"]
    assert info["limits"] == {
        "max_text_chars": 3000,
        "max_batch_texts": 4,
        "max_file_bytes": 60000,
        "max_body_bytes": 200000,
    }
    assert info["model"]["threads"] == 1


def test_openapi_schema_documents_every_endpoint(server: Server) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/health", "/info", "/predict", "/predict/batch", "/predict/file"} <= set(
        schema["paths"]
    )
    responses = schema["paths"]["/predict"]["post"]["responses"]
    assert {"200", "413", "415", "422"} <= set(responses)
    assert "ErrorResponse" in schema["components"]["schemas"]


def test_predict_returns_entities_with_offsets(server: Server, engine_int8: OnnxEngine) -> None:
    response = httpx.post(f"{server.url}/predict", json={"text": TEXT})
    assert response.status_code == 200
    entities = response.json()["entities"]
    assert _names(entities) == ["Dana Nguyen"]
    assert entities == [e.model_dump() for e in engine_int8.predict(TEXT)]
    for entity in entities:
        assert TEXT[entity["start"] : entity["end"]] == entity["text"]


def test_predict_batch_matches_single_predictions(server: Server) -> None:
    texts = [TEXT, "Skills: sql", "Contact Julia Rossi in Lima about java work."]
    response = httpx.post(f"{server.url}/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    results = response.json()["results"]
    singles = [httpx.post(f"{server.url}/predict", json={"text": t}).json() for t in texts]
    # int8 quantises activations per batch, so confidences may move in the last digits
    assert [_spans(r["entities"]) for r in results] == [_spans(r["entities"]) for r in singles]
    for batched, single in zip(results, singles, strict=True):
        for a, b in zip(batched["entities"], single["entities"], strict=True):
            assert a["confidence"] == pytest.approx(b["confidence"], abs=0.02)
    assert _names(results[2]["entities"]) == ["Julia Rossi"]


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        ("cv.txt", "text/plain", "text"),
        ("cv.pdf", "application/pdf", "pdf"),
        ("cv.docx", DOCX_TYPE, "docx"),
    ],
)
def test_predict_file_reads_text_pdf_and_docx(
    server: Server, pdf_bytes: bytes, docx_bytes: bytes, name: str, content_type: str, kind: str
) -> None:
    data = {"text": TEXT.encode(), "pdf": pdf_bytes, "docx": docx_bytes}[kind]
    response = httpx.post(f"{server.url}/predict/file", files={"file": (name, data, content_type)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == kind and body["filename"] == name
    assert _names(body["entities"]) == ["Dana Nguyen"]
    for entity in body["entities"]:
        assert body["text"][entity["start"] : entity["end"]] == entity["text"]


def test_bad_json_requests_are_4xx_naming_the_field(server: Server) -> None:
    url = f"{server.url}/predict"
    _error(httpx.post(url, json={"text": ""}), 422, "text")
    _error(httpx.post(url, json={"text": "  \n "}), 422, "text")
    assert "is required" in _error(httpx.post(url, json={}), 422, "text")["message"]
    _error(httpx.post(url, json={"text": 123}), 422, "text")
    _error(httpx.post(url, json=["not", "an", "object"]), 422, "body")
    bad_json = httpx.post(url, content=b'{"text": "x', headers={"content-type": "application/json"})
    assert "not valid JSON" in _error(bad_json, 422, "body")["message"]
    too_long = _error(httpx.post(url, json={"text": "a " * 1501}), 413, "text")
    assert "3002 characters" in too_long["message"] and "3000" in too_long["message"]
    plain = httpx.post(url, content=TEXT.encode(), headers={"content-type": "text/plain"})
    assert "application/json" in _error(plain, 415, "content-type")["message"]
    _error(httpx.post(url, content=b'{"text": "x"}'), 415, "content-type")  # no content type


def test_bad_batches_are_4xx_naming_the_text(server: Server) -> None:
    url = f"{server.url}/predict/batch"
    too_many = _error(httpx.post(url, json={"texts": ["a"] * 5}), 413, "texts")
    assert "5 texts" in too_many["message"] and "limit of 4" in too_many["message"]
    _error(httpx.post(url, json={"texts": []}), 422, "texts")
    _error(httpx.post(url, json={"texts": [TEXT, ""]}), 422, "texts[1]")
    _error(httpx.post(url, json={"texts": [TEXT, TEXT, "x" * 3001]}), 413, "texts[2]")
    _error(httpx.post(url, json={"texts": [TEXT, 5]}), 422, "texts[1]")
    _error(httpx.post(url, json={"texts": TEXT}), 422, "texts")
    _error(httpx.post(url, json={"text": TEXT}), 422, "texts")


def test_bad_files_are_4xx_naming_the_problem(server: Server, pdf_bytes: bytes) -> None:
    url = f"{server.url}/predict/file"

    def upload(name: str, data: bytes, content_type: str) -> httpx.Response:
        return httpx.post(url, files={"file": (name, data, content_type)})

    assert "image/png" in _error(upload("a.png", b"\x89PNG", "image/png"), 415, "file")["message"]
    assert (
        "not a PDF" in _error(upload("a.pdf", b"hello", "application/pdf"), 422, "file")["message"]
    )
    truncated = upload("a.pdf", pdf_bytes[:60], "application/pdf")
    assert "corrupt PDF" in _error(truncated, 422, "file")["message"]
    assert (
        "corrupt DOCX"
        in _error(upload("a.docx", b"PK\x03\x04xx", DOCX_TYPE), 422, "file")["message"]
    )
    assert "UTF-8" in _error(upload("a.txt", b"caf\xe9", "text/plain"), 422, "file")["message"]
    assert "empty" in _error(upload("a.txt", b"", "text/plain"), 422, "file")["message"]
    big = _error(upload("a.txt", b"a " * 30001, "text/plain"), 413, "file")
    assert "60000 bytes" in big["message"]
    long_text = _error(upload("a.txt", b"word " * 700, "text/plain"), 413, "file")
    assert "3000" in long_text["message"]
    _error(httpx.post(url, json={"file": "x"}), 415, "content-type")
    missing = httpx.post(url, files={"other": ("a.txt", b"x", "text/plain")})
    assert "is required" in _error(missing, 422, "file")["message"]


def test_unknown_routes_and_methods_answer_json(server: Server) -> None:
    _error(httpx.get(f"{server.url}/nope"), 404, None)
    not_allowed = httpx.get(f"{server.url}/predict")
    _error(not_allowed, 405, None)
    assert not_allowed.headers["allow"] == "POST"
    assert httpx.delete(f"{server.url}/health").headers["allow"] == "GET"


def test_lone_surrogates_are_422_naming_the_field(server: Server) -> None:
    json_type = {"content-type": "application/json"}
    one = httpx.post(
        f"{server.url}/predict", content=b'{"text": "Jane \\ud800 Doe"}', headers=json_type
    )
    assert "lone surrogate U+D800" in _error(one, 422, "text")["message"]
    batch = httpx.post(
        f"{server.url}/predict/batch",
        content=b'{"texts": ["Name: Ivo Smith", "Jane \\udfff Doe"]}',
        headers=json_type,
    )
    assert "U+DFFF" in _error(batch, 422, "texts[1]")["message"]


def test_a_body_that_is_not_utf8_is_422_naming_the_body(server: Server) -> None:
    for path, body in (("/predict", b'{"text": "caf\xe9"}'), ("/predict/batch", b"\xff\xfe{}")):
        response = httpx.post(
            f"{server.url}{path}", content=body, headers={"content-type": "application/json"}
        )
        assert "not valid UTF-8" in _error(response, 422, "body")["message"]


def _raw_request(server: Server, head: bytes, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send bytes on a socket and read the answer: httpx would insist on sending it all."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(payload)


def test_bodies_over_the_limit_are_413_before_they_are_read(server: Server) -> None:
    announced = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000000\r\nConnection: close\r\n\r\n"
    )
    status, body = _raw_request(server, announced)  # not one byte of the 60 MB sent
    assert status == 413 and body["error"]["field"] == "body"
    assert "60000000" in body["error"]["message"] and "200000" in body["error"]["message"]

    streamed = (
        b"POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunk = b'{"texts": ["' + b"a" * 50_000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in [chunk] * 5)
    status, body = _raw_request(server, streamed, chunks + b"0\r\n\r\n")
    assert status == 413 and body["error"]["field"] == "body"
    assert "more than 200000 bytes" in body["error"]["message"]

    upload = (
        b"POST /predict/file HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\n"
        b"Content-Length: 9000000\r\nConnection: close\r\n\r\n"
    )
    status, body = _raw_request(server, upload)
    assert status == 413 and body["error"]["field"] == "file"
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_openapi_schema_states_the_enforced_limits(server: Server) -> None:
    schemas = httpx.get(f"{server.url}/openapi.json").json()["components"]["schemas"]
    text = schemas["PredictRequest"]["properties"]["text"]
    assert (text["minLength"], text["maxLength"], text["pattern"]) == (1, 3000, r"\S")
    texts = schemas["BatchRequest"]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"]) == (1, 4)
    assert texts["items"]["maxLength"] == 3000 and texts["items"]["pattern"] == r"\S"
    # the limits accept what they say: exactly 3000 characters and exactly 4 texts
    assert httpx.post(f"{server.url}/predict", json={"text": "a" * 3000}).status_code == 200
    four = httpx.post(f"{server.url}/predict/batch", json={"texts": ["x", "y", "z", "w"]})
    assert four.status_code == 200


def test_server_keeps_serving_after_bad_input_and_uses_both_workers(server: Server) -> None:
    bad = [httpx.post(f"{server.url}/predict", json={"text": ""}) for _ in range(5)]
    assert all(r.status_code == 422 for r in bad)
    assert server.process.poll() is None

    def health(_: int) -> int:
        with httpx.Client() as client:  # a new connection each time, so workers take turns
            response = client.get(f"{server.url}/health")
            assert response.status_code == 200
            return int(response.json()["worker_pid"])

    pids: set[int] = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(10):
            pids |= set(pool.map(health, range(32)))
            if len(pids) >= 2:
                break
    assert len(pids) == 2
    assert pids <= {child.pid for child in psutil.Process(server.process.pid).children()}


def test_create_app_and_settings_from_environment(package_dir: Path) -> None:
    settings = ServeSettings(package=package_dir, variant="fp32", max_batch_texts=2)
    assert ServeSettings.from_env(settings.to_env()) == settings
    with pytest.raises(ValueError, match="NERP_SERVE_PACKAGE is not set"):
        ServeSettings.from_env({})
    with pytest.raises(ValueError, match="NERP_SERVE_MAX_BATCH_TEXTS"):
        ServeSettings.from_env({**settings.to_env(), "NERP_SERVE_MAX_BATCH_TEXTS": "0"})
    app = create_app(settings)
    assert app.state.engine.variant == "fp32"
    assert {"/predict", "/info"} <= {getattr(r, "path", "") for r in app.routes}
