"""Render :class:`ReportData` as one self-contained HTML page and a Markdown summary.

The page inlines plotly.js once (no CDN: reports are opened offline) and puts every
number a figure shows into a table next to it as well, so the page is still useful, and
checkable, where JavaScript does not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

from nerp_eval.benchmark.chart import latency_figure
from nerp_eval.benchmark.timing import BatchTiming
from nerp_eval.evaluation.errors import ERROR_CLASSES
from nerp_eval.evaluation.examples import EXAMPLES_FILE
from nerp_eval.report.collect import ReportData
from nerp_eval.report.examples import PALETTE, example_view
from nerp_infra.paths import backbone_component

__all__ = ["render_html", "render_markdown"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("nerp_eval.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
PAGE_TEMPLATE = "report.html.j2"


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


class _Figures:
    """Figures as HTML fragments (plotly's own markup); the first one carries plotly.js."""

    def __init__(self) -> None:
        self._first = True
        self.count = 0

    def html(self, figure: Any, div_id: str) -> Markup:
        self.count += 1
        text: str = pio.to_html(
            figure,
            include_plotlyjs=self._first,
            full_html=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
        self._first = False
        return Markup(text)  # plotly's generated div and script, trusted as markup


def _dataset_view(data: ReportData, figures: _Figures) -> dict[str, Any] | None:
    ds = data.dataset
    if ds is None:
        return None
    stats = ds.get("stats") or {}
    metrics = ds.get("metrics") or {}
    per_type = (stats.get("all") or {}).get("spans_per_type", {})
    figure = None
    if per_type:
        bars = go.Figure(
            go.Bar(x=list(per_type), y=list(per_type.values()), text=list(per_type.values()))
        )
        bars.update_layout(title="Spans per entity type", template="plotly_white", height=320)
        figure = figures.html(bars, "fig-dataset-types")
    return {
        "id": ds["id"],
        "data_fp": ds["fingerprints"].get("data_fp", "")[:12],
        "documents": metrics.get("documents", ""),
        "spans": metrics.get("spans", ""),
        "splits": [
            [split, metrics.get(f"documents_{split}", stats.get(split, {}).get("documents", ""))]
            for split in ("train", "validation", "test")
        ],
        "per_type": [[k, v] for k, v in per_type.items()],
        "figure": figure,
    }


def _history_figure(study: Mapping[str, Any]) -> Any:
    complete = [t for t in study["trials"] if t["state"] == "COMPLETE" and t["value"] is not None]
    others = [t for t in study["trials"] if t not in complete]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[t["number"] for t in complete],
            y=[t["value"] for t in complete],
            mode="markers",
            name="complete",
        )
    )
    best: list[float] = []
    for t in complete:
        best.append(max([*best[-1:], t["value"]]))
    figure.add_trace(
        go.Scatter(x=[t["number"] for t in complete], y=best, mode="lines", name="best so far")
    )
    if others:
        figure.add_trace(
            go.Scatter(
                x=[t["number"] for t in others],
                y=[min((t["value"] for t in complete), default=0.0)] * len(others),
                mode="markers",
                marker={"symbol": "x", "color": "#999"},
                name="pruned / failed",
            )
        )
    figure.update_layout(
        title=f"{study['study_name']}: {study['objective_metric']} per trial",
        xaxis_title="trial",
        xaxis={"tickmode": "linear", "dtick": 1} if len(study["trials"]) <= 20 else {},
        yaxis_title=study["objective_metric"],
        template="plotly_white",
        height=340,
    )
    return figure


def _study_view(n: int, study: Mapping[str, Any], figures: _Figures) -> dict[str, Any]:
    metrics = study.get("metrics", {})
    best = study.get("best_trial", {})
    history = figures.html(_history_figure(study), f"fig-history-{n}") if study["trials"] else None
    importance = study.get("importance") or {}
    importance_figure = None
    if importance:
        bars = go.Figure(
            go.Bar(
                x=list(importance.values()),
                y=list(importance),
                orientation="h",
                text=[f"{v:.3f}" for v in importance.values()],
            )
        )
        bars.update_layout(title="Parameter importance", template="plotly_white", height=260)
        importance_figure = figures.html(bars, f"fig-importance-{n}")
    return {
        "name": study["study_name"],
        "backbone": study["backbone"],
        "summary": [
            _fmt(metrics.get("best_value")),
            best.get("number", ""),
            metrics.get("n_complete", ""),
            metrics.get("n_pruned", ""),
            metrics.get("n_failed", ""),
            study.get("trials_source") or "n/a",
        ],
        "history": history,
        "importance": [[k, _fmt(v, 3)] for k, v in importance.items()],
        "importance_method": study.get("importance_method", ""),
        "importance_figure": importance_figure,
        "plot": (study.get("plots") or {}).get("param_importances"),
    }


def _selection_view(data: ReportData) -> dict[str, Any] | None:
    sel = data.selection
    if sel is None:
        return None
    report = sel["report"]
    decision = report["decision"]
    champion = report["champion"]
    return {
        "champion": backbone_component(champion["backbone"]),
        "strategy": decision["strategy"],
        "rule": decision["rule"],
        "reason": decision["reason"],
        "candidates": [
            [
                backbone_component(c["backbone"]),
                _fmt(c["score"]),
                "" if c.get("latency_ms") is None else _fmt(c["latency_ms"], 2),
                ""
                if c.get("within_tolerance") is None
                else ("yes" if c["within_tolerance"] else "no"),
                "" if c.get("composite") is None else _fmt(c["composite"], 3),
                c["trial"]["number"],
                "champion" if c["backbone"] == champion["backbone"] else "",
            ]
            for c in decision["candidates"]
        ],
        "groups": [
            [
                g["study_name"],
                backbone_component(g["backbone"]),
                g["n_complete"],
                _fmt(g["score"]),
                g["reason"],
            ]
            for g in report.get("groups", [])
        ],
        "excluded": list(report.get("excluded", [])),
    }


def _evaluation_view(n: int, ev: Mapping[str, Any], figures: _Figures) -> dict[str, Any]:
    report = ev["report"]
    micro, macro = report["micro"], report["macro"]
    per_type = report["per_type"]
    figure = None
    if per_type:
        bars = go.Figure(
            go.Bar(
                x=list(per_type),
                y=[round(v["f1"], 4) for v in per_type.values()],
                text=[f"{v['f1']:.4f}" for v in per_type.values()],
                textposition="outside",
            )
        )
        bars.update_layout(
            title="F1 per entity type", yaxis_range=[0, 1.1], template="plotly_white", height=320
        )
        figure = figures.html(bars, f"fig-eval-{n}")
    errors = report["errors"]
    classes = ["correct", *ERROR_CLASSES]
    examples = ev.get("examples")
    return {
        "id": ev["id"],
        "backbone": report["backbone"],
        "backend": report["backend"],
        "source": report.get("data", {}).get("source", ""),
        "documents": report["documents"],
        "support": report["support"],
        "averages": [
            [name, _fmt(avg["precision"]), _fmt(avg["recall"]), _fmt(avg["f1"])]
            for name, avg in (("micro", micro), ("macro", macro))
        ],
        "per_type": [
            [
                k,
                _fmt(v["precision"]),
                _fmt(v["recall"]),
                _fmt(v["f1"]),
                v["support"],
                v["predicted"],
            ]
            for k, v in per_type.items()
        ],
        "figure": figure,
        "error_headers": [c.replace("_", " ") for c in classes],
        "errors": [[k, *[row.get(c, 0) for c in classes]] for k, row in errors["by_type"].items()]
        + [["total", *[errors["totals"].get(c, 0) for c in classes]]],
        "confusion": [[c["gold"], c["predicted"], c["count"]] for c in errors.get("confusion", [])],
        "examples": None if examples is None else example_view(examples, per_type),
    }


LATENCY_HEADERS = (
    "backend",
    "batch",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "mean ms",
    "tokenisation p50 ms",
    "texts/s",
)


def _latency_rows(timings: Sequence[BatchTiming]) -> list[list[Any]]:
    return [
        [
            t.backend,
            t.batch_size,
            _fmt(t.latency.p50_ms, 2),
            _fmt(t.latency.p95_ms, 2),
            _fmt(t.latency.p99_ms, 2),
            _fmt(t.latency.mean_ms, 2),
            _fmt(t.tokenization.p50_ms, 2),
            _fmt(t.throughput_texts_per_s, 1),
        ]
        for t in timings
    ]


def _timings(report: Mapping[str, Any]) -> list[BatchTiming]:
    return [BatchTiming.from_dict(row) for row in report.get("timings", [])]


def _benchmark_view(data: ReportData, figures: _Figures) -> dict[str, Any] | None:
    bench = data.benchmark
    if bench is None:
        return None
    report = bench["report"]
    timings = _timings(report)
    device = report.get("device", {})
    settings = report["settings"]
    return {
        "id": bench["id"],
        "cpu": device.get("cpu", ""),
        "cpu_count": device.get("cpu_count", ""),
        "threads": device.get("threads") or "all",
        "iterations": settings["iterations"],
        "warmup": settings["warmup"],
        "n_texts": settings["n_texts"],
        "figure": figures.html(latency_figure(timings, title="Latency per backend"), "fig-latency"),
        "rows": _latency_rows(timings),
    }


def _lineage_rows(data: ReportData) -> list[list[Any]]:
    return [
        [
            a["kind"],
            a["id"],
            a["stage"],
            a["backbone"],
            ", ".join(f"{k} {v[:8]}" for k, v in a["fingerprints"].items()),
            a["created_at"][:19],
        ]
        for a in data.lineage
    ]


def render_html(data: ReportData, *, title: str = "nerp report") -> str:
    """The whole report page (self-contained: CSS and plotly.js inline), from the
    ``templates/report.html.j2`` template; every value is HTML-escaped by autoescape."""
    figures = _Figures()  # views are built in page order: the first figure carries plotly.js
    dataset = _dataset_view(data, figures)
    studies = [_study_view(n, study, figures) for n, study in enumerate(data.studies)]
    selection = _selection_view(data)
    evaluations = [_evaluation_view(n, ev, figures) for n, ev in enumerate(data.evaluations)]
    benchmark = _benchmark_view(data, figures)
    return _ENV.get_template(PAGE_TEMPLATE).render(
        title=title,
        output_root=data.output_root,
        generated_at=data.generated_at,
        served=data.served,
        dataset=dataset,
        studies=studies,
        selection=selection,
        evaluations=evaluations,
        benchmark=benchmark,
        latency_headers=LATENCY_HEADERS,
        lineage=_lineage_rows(data),
        palette=PALETTE,
        examples_file=EXAMPLES_FILE,
    )


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData, *, title: str = "nerp report") -> str:
    """A short Markdown summary: the decision, the scores, the latencies, the lineage."""
    out = [
        f"# {title}",
        "",
        f"Output root `{data.output_root}`, generated {data.generated_at}.",
        "",
    ]
    if data.dataset:
        m = data.dataset.get("metrics", {})
        out += [
            "## Dataset",
            "",
            f"`{data.dataset['id']}`: {m.get('documents', '?')} documents (train "
            f"{m.get('documents_train', '?')}, validation {m.get('documents_validation', '?')}, "
            f"test {m.get('documents_test', '?')}), {m.get('spans', '?')} spans.",
            "",
        ]
    if data.studies:
        out += ["## HPO", ""]
        out.append(
            _md_table(
                ["study", "backbone", "best value", "best trial", "complete", "pruned"],
                [
                    [
                        s["study_name"],
                        s["backbone"],
                        _fmt(s["metrics"].get("best_value")),
                        s["best_trial"].get("number", ""),
                        s["metrics"].get("n_complete", ""),
                        s["metrics"].get("n_pruned", ""),
                    ]
                    for s in data.studies
                ],
            )
        )
        out.append("")
    if data.selection:
        report = data.selection["report"]
        decision = report["decision"]
        out += [
            "## Selection",
            "",
            f"**Champion: {backbone_component(report['champion']['backbone'])}** "
            f"(`{report['champion']['backbone']}`; {decision['strategy']}, rule "
            f"`{decision['rule']}`). {decision['reason']}",
            "",
            _md_table(
                ["backbone", "score", "latency ms", "within tolerance", "composite"],
                [
                    [
                        backbone_component(c["backbone"]),
                        _fmt(c["score"]),
                        "" if c.get("latency_ms") is None else _fmt(c["latency_ms"], 2),
                        "" if c.get("within_tolerance") is None else c["within_tolerance"],
                        "" if c.get("composite") is None else _fmt(c["composite"], 3),
                    ]
                    for c in decision["candidates"]
                ],
            ),
            "",
        ]
    for ev in data.evaluations:
        report = ev["report"]
        out += [
            f"## Evaluation: {report['backbone']} · {report['backend']}",
            "",
            f"micro F1 {_fmt(report['micro']['f1'])}, macro F1 {_fmt(report['macro']['f1'])} on "
            f"{report['documents']} documents ({report['support']} entities).",
            "",
            _md_table(
                ["type", "precision", "recall", "F1", "support"],
                [
                    [k, _fmt(v["precision"]), _fmt(v["recall"]), _fmt(v["f1"]), v["support"]]
                    for k, v in report["per_type"].items()
                ],
            ),
            "",
        ]
    if data.benchmark:
        timings = _timings(data.benchmark["report"])
        out += [
            "## Latency",
            "",
            _md_table(LATENCY_HEADERS, _latency_rows(timings)),
            "",
        ]
    if data.lineage:
        out += [
            "## Lineage of the served model",
            "",
            _md_table(
                ["kind", "id", "stage", "backbone"],
                [[a["kind"], a["id"], a["stage"], a["backbone"]] for a in data.lineage],
            ),
            "",
        ]
    return "\n".join(out) + "\n"
