"""The demo page ``GET /`` in real headless Chromium (Playwright driving the system browser,
no downloaded browser): upload a DOCX, see its entities highlighted by type with scores."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from nerp_deploy.extract import DOCX_TYPE

if TYPE_CHECKING:
    from conftest import Server

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    reason = "Chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_page_is_self_contained(server: Server) -> None:
    page = httpx.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, works offline
    assert "/" not in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_uploaded_docx_entities_are_highlighted_in_chromium(
    server: Server, browser: Any, docx_bytes: bytes
) -> None:
    expected = httpx.post(
        f"{server.url}/predict/file",
        files={"file": ("resume.docx", docx_bytes, DOCX_TYPE)},
        timeout=30,
    ).json()
    assert expected["entities"], "the toy model should find entities in the resume"
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.url}/")
    page.set_input_files(
        "#file", files=[{"name": "resume.docx", "mimeType": DOCX_TYPE, "buffer": docx_bytes}]
    )
    page.click("#predict-file")
    page.wait_for_selector("#result mark.ent", timeout=30_000)
    marks = page.eval_on_selector_all(
        "#result mark.ent",
        "els => els.map(e => ({label: e.dataset.label, score: Number(e.dataset.score),"
        " text: e.firstChild.textContent, colour: getComputedStyle(e).backgroundColor}))",
    )
    assert [(m["text"], m["label"]) for m in marks] == [
        (e["text"], e["label"]) for e in expected["entities"]
    ]
    for mark, entity in zip(marks, expected["entities"], strict=True):
        assert mark["score"] == pytest.approx(entity["confidence"], abs=0.02)
    by_label: dict[str, set[str]] = {}
    for mark in marks:
        by_label.setdefault(mark["label"], set()).add(mark["colour"])
    assert all(len(c) == 1 for c in by_label.values())  # one colour per type
    if len(by_label) > 1:
        assert len({next(iter(c)) for c in by_label.values()}) > 1  # types told apart
    assert page.inner_text("#result").startswith("Name: ")  # the document's text around them
    assert sorted(page.eval_on_selector_all("#legend span", "s => s.map(x => x.textContent)")) == (
        sorted(by_label)
    )
    assert page.inner_text("#status") == f"{len(marks)} entities"
    assert all(url.startswith(server.url) for url in requests)  # nothing fetched elsewhere
    page.close()


def test_page_shows_the_api_error_for_an_empty_text(server: Server, browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/")
    page.click("#predict-text")
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "422" in page.inner_text("#status") and "text" in page.inner_text("#status")
    page.close()
