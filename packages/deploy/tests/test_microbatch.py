"""Dynamic micro-batching: concurrent requests share model calls, answers stay their own.

Over a real `nerp serve` (one worker, so every request meets the same batcher, and a
wait long enough that concurrent requests surely meet) and in-process with the real
engine, where a text the engine refuses fails only its own request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from nerp_deploy import OnnxEngine
from nerp_deploy.errors import InputError
from nerp_deploy.serve.batcher import MicroBatcher
from nerp_deploy.serve.settings import ServeSettings
from nerp_infra.documents import Document, Entity

if TYPE_CHECKING:
    from conftest import Server


def _keys(entities: list[dict[str, Any]] | list[Entity]) -> list[tuple[str, int, int]]:
    return [
        (e["label"], e["start"], e["end"]) if isinstance(e, dict) else (e.label, e.start, e.end)
        for e in entities
    ]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    batching_server: Server, engine_fp32: OnnxEngine, documents: list[Document]
) -> None:
    texts = [doc.text for doc in documents[:12]]
    expected = [_keys(engine_fp32.predict(text)) for text in texts]
    assert len({tuple(e) for e in expected}) > 1  # the texts have different answers
    start = threading.Barrier(len(texts))

    def post(text: str) -> httpx.Response:
        with httpx.Client(base_url=batching_server.url, timeout=60) as client:
            start.wait()
            return client.post("/predict", json={"text": text})

    with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
        responses = list(pool.map(post, texts))
    for response, want, text in zip(responses, expected, texts, strict=True):
        assert response.status_code == 200, response.text
        got = response.json()["entities"]
        assert _keys(got) == want
        assert all(text[e["start"] : e["end"]] == e["text"] for e in got)
    batching = httpx.get(f"{batching_server.url}/info").json()["micro_batching"]
    assert batching["enabled"] is True and batching["max_texts"] == 8
    assert batching["texts"] >= len(texts)
    assert batching["batches"] < batching["texts"]  # some requests shared a model call
    assert 1 < batching["largest"] <= 8


def test_bad_requests_fail_alone_while_good_ones_in_flight_succeed(
    batching_server: Server, engine_fp32: OnnxEngine, documents: list[Document]
) -> None:
    good = [doc.text for doc in documents[:6]]
    bad: list[tuple[str, Any, int, str]] = [
        ("/predict", {"text": ""}, 422, "text"),
        ("/predict", {"text": "x" * 20001}, 413, "text"),
        ("/predict", {"txt": "wrong key"}, 422, "text"),
        ("/predict/batch", {"texts": [good[0], "   "]}, 422, "texts[1]"),
    ]
    jobs: list[tuple[str, Any]] = [("/predict", {"text": t}) for t in good]
    jobs += [(path, body) for path, body, _, _ in bad]
    start = threading.Barrier(len(jobs))

    def post(job: tuple[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=batching_server.url, timeout=60) as client:
            start.wait()
            return client.post(job[0], json=job[1])

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        responses = list(pool.map(post, jobs))
    for response, text in zip(responses[: len(good)], good, strict=True):
        assert response.status_code == 200, response.text
        assert _keys(response.json()["entities"]) == _keys(engine_fp32.predict(text))
    for response, (_, _, status, field) in zip(responses[len(good) :], bad, strict=True):
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] == field
    assert httpx.get(f"{batching_server.url}/health").status_code == 200


def test_a_text_the_engine_refuses_fails_only_its_own_future(
    engine_fp32: OnnxEngine, documents: list[Document]
) -> None:
    """A batch holding one text the engine refuses (a lone surrogate, which the HTTP
    layer would have stopped) is re-run text by text: the others get their entities."""
    texts = [doc.text for doc in documents[:4]]
    poisoned = "Name: Dana \ud800 Nguyen"

    async def run() -> list[Any]:
        batcher = MicroBatcher(engine_fp32, max_texts=8, max_wait_ms=50)
        try:
            jobs = [batcher.predict(t) for t in [*texts[:2], poisoned, *texts[2:]]]
            results = await asyncio.gather(*jobs, return_exceptions=True)
            assert batcher.stats.fallbacks == 1
            assert batcher.stats.largest == 5  # all five met in one batch first
            return results
        finally:
            await batcher.close()

    results = asyncio.run(run())
    assert isinstance(results[2], InputError)
    answers = [r for i, r in enumerate(results) if i != 2]
    assert [_keys(r) for r in answers] == [_keys(engine_fp32.predict(t)) for t in texts]


def test_micro_batch_limits_are_enforced_and_travel_through_the_environment(
    package_dir: Path,
) -> None:
    settings = ServeSettings(
        package=package_dir, micro_batch=False, micro_batch_wait_ms=7.5, micro_batch_max_texts=3
    )
    assert ServeSettings.from_env(settings.to_env()) == settings
    with pytest.raises(ValueError, match="MICRO_BATCH_MAX_TEXTS"):
        ServeSettings.from_env({**settings.to_env(), "NERP_SERVE_MICRO_BATCH_MAX_TEXTS": "0"})
    with pytest.raises(ValueError, match="max_wait_ms"):
        MicroBatcher(OnnxEngine.load(package_dir, threads=1), max_wait_ms=-1)


def test_without_micro_batching_the_app_predicts_per_request(package_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from nerp_deploy import create_app

    app = create_app(ServeSettings(package=package_dir, threads=1, micro_batch=False))
    with TestClient(app) as client:
        response = client.post("/predict", json={"text": "Name: Dana Nguyen\nSkills: python"})
        assert response.status_code == 200
        assert client.get("/info").json()["micro_batching"]["enabled"] is False
