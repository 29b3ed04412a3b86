"""The report's "predictions on test documents": outcomes of spans, and a real report
drawn from a real evaluation of the tiny ONNX package on a document whose gold spans are
built around the model's own predictions (one exact, one with other edges, one missed),
and whose text holds a ``<script>`` tag that must show as text.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from nerp_eval.evaluation import EvaluationData, evaluate_documents, run_evaluation
from nerp_eval.evaluation.examples import MAX_EXAMPLES, examples_payload, sample_positions
from nerp_eval.report import write_report
from nerp_eval.report.examples import classify, example_view
from nerp_eval.targets import resolve_target
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.documents import Document, Entity, Span
from nerp_infra.paths import OutputLayout

SCRIPT = "<script>alert('x')</script>"


def _span(start: int, end: int, label: str) -> dict[str, object]:
    return {"start": start, "end": end, "label": label}


def test_outcomes_follow_the_error_classes() -> None:
    gold = [
        _span(0, 7, "NAME"),  # exact
        _span(10, 16, "SKILL"),  # predicted 10..17: boundary
        _span(20, 24, "SKILL"),  # predicted as COMPANY: type
        _span(30, 33, "SKILL"),  # nothing: missed
        _span(40, 45, "NAME"),  # COMPANY 41..45: type and boundary
    ]
    predicted = [
        {**_span(0, 7, "NAME"), "confidence": 0.9},
        {**_span(10, 17, "SKILL"), "confidence": 0.8},
        {**_span(20, 24, "COMPANY"), "confidence": 0.5},
        {**_span(41, 45, "COMPANY"), "confidence": 0.4},
        {**_span(50, 52, "SKILL"), "confidence": 0.3},  # no gold: spurious
    ]
    gold_marks, pred_marks = classify(gold, predicted)
    assert [m.outcome for m in gold_marks] == [
        "correct",
        "wrong_boundary",
        "wrong_type",
        "missed",
        "wrong_type_and_boundary",
    ]
    assert [m.outcome for m in pred_marks] == [
        "correct",
        "wrong_boundary",
        "wrong_type",
        "wrong_type_and_boundary",
        "spurious",
    ]


def test_the_sample_is_seeded_and_stable() -> None:
    assert sample_positions(3) == [0, 1, 2]
    assert sample_positions(100) == sample_positions(100)
    assert len(sample_positions(100)) == MAX_EXAMPLES
    docs = [Document(id=f"d{i}", text=f"doc {i}") for i in range(8)]
    payload = examples_payload(docs, [[] for _ in docs])
    assert [d["id"] for d in payload["documents"]] == [f"d{i}" for i in sample_positions(8)]


def _marks(page: str, outcome: str, tag: str) -> list[tuple[str, str]]:
    """(attributes, text) of every ``tag`` element with this outcome in the page."""
    pattern = rf'<{tag} ([^>]*data-outcome="{outcome}"[^>]*)>(.*?)</{tag}>'
    return [(attrs, re.sub(r"<[^>]+>", "", text)) for attrs, text in re.findall(pattern, page)]


def _next_word(text: str, position: int) -> int:
    found = re.compile(r"\s+\w+").match(text, position)
    assert found is not None
    return found.end()


def test_report_highlights_a_known_document(root: Path, package: Path, dataset: object) -> None:
    target = resolve_target(package)  # onnx_int8
    # the model's own predictions on the text decide the gold spans of the known document
    chosen: tuple[str, list[Entity]] | None = None
    for doc in dataset.test:  # type: ignore[attr-defined]
        text = f"{SCRIPT} zebra quokka\n{doc.text}"
        probe = evaluate_documents(target, [Document(id="probe", text=text)])
        entities = probe.documents[0].entities
        if len(entities) >= 2 and re.match(r"\s+\w+", text[entities[1].end :]):
            chosen = (text, entities)
            break
    assert chosen is not None, "the tiny model predicts fewer than two entities on every doc"
    text, entities = chosen
    exact, widened = entities[0], entities[1]
    free = [
        m for m in re.finditer(r"zebra|quokka|alert", text)
        if not any(e.start < m.end() and m.start() < e.end for e in entities)
    ]  # fmt: skip
    assert free, "the model tags every word of the prefix"
    missed = free[0]
    gold = [
        Span(start=exact.start, end=exact.end, label=exact.label),
        Span(start=widened.start, end=_next_word(text, widened.end), label=widened.label),
        Span(start=missed.start(), end=missed.end(), label=exact.label),
    ]
    known = Document(id="cv-<b>known</b>", text=text, spans=sorted(gold, key=lambda s: s.start))

    index, layout = ArtifactIndex(root), OutputLayout(root)
    evaluation = run_evaluation(
        target, EvaluationData.from_documents([known], "known document"), index=index, layout=layout
    )
    examples = json.loads((evaluation.artifact_dir / "examples.json").read_text())
    assert [d["id"] for d in examples["documents"]] == [known.id]
    assert examples["documents"][0]["predicted"][0]["confidence"] == exact.confidence
    page = write_report(index, layout).html.read_text()

    # the document's text is shown as text: the script tag escaped, never as markup
    assert "<script>alert" not in page
    assert 'data-doc="cv-&lt;b&gt;known&lt;/b&gt;"' in page
    shown = re.search(r'<div class="doc" data-doc="[^"]*">(.*?)</div>', page, re.S)
    assert shown is not None
    without_badges = re.sub(r"<sup [^>]*>.*?</sup>", "", shown.group(1))
    assert html.unescape(re.sub(r"<[^>]+>", "", without_badges)) == text
    # the exact prediction: highlighted with its type and score
    correct = _marks(page, "correct", "mark")
    assert (exact.label, f"{exact.confidence:.3f}", text[exact.start : exact.end]) in [
        (
            re.search(r'data-label="([^"]*)"', a).group(1),  # type: ignore[union-attr]
            re.search(r'data-score="([^"]*)"', a).group(1),  # type: ignore[union-attr]
            html.unescape(t),
        )
        for a, t in correct
    ]
    # the widened gold span: the prediction marked as a boundary error, the gold extent drawn
    boundary_gold = _marks(page, "wrong_boundary", "span")
    assert any(
        html.unescape(t).startswith(text[widened.start : widened.end]) for _, t in boundary_gold
    )
    assert any(
        f'data-label="{widened.label}"' in a for a, _ in _marks(page, "wrong_boundary", "mark")
    )
    assert f'<sup class="badge gold">gold {widened.label}</sup>' in page
    # the missed gold span: marked, with its badge
    assert ("missed", missed.group()) in [
        (re.search(r'data-outcome="([^"]*)"', a).group(1), t)  # type: ignore[union-attr]
        for a, t in _marks(page, "missed", "span")
    ]
    assert f'<sup class="badge missed">missed {exact.label}</sup>' in page
    # the legend names the types and the marks
    legend = page[page.index('<div class="legend">') :]
    assert '<mark class="ent t' in legend and f">{exact.label}</mark>" in legend
    assert "missed (gold not predicted)" in legend
    assert "<script src=" not in page and "https://" not in page.split("<script")[0]


def test_an_evaluation_without_examples_says_so() -> None:
    view = example_view({"documents": []})
    assert view["documents"] == [] and view["types"] == []
