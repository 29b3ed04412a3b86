"""Render :class:`ReportData` as one self-contained HTML page and a Markdown summary.

The page inlines plotly.js once (no CDN: reports are opened offline) and puts every
number a figure shows into a table next to it as well, so the page is still useful, and
checkable, where JavaScript does not run.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from nerp_eval.benchmark.chart import latency_figure
from nerp_eval.benchmark.timing import BatchTiming
from nerp_eval.evaluation.errors import ERROR_CLASSES
from nerp_eval.report.collect import ReportData
from nerp_infra.paths import backbone_component

__all__ = ["render_html", "render_markdown"]

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem;
margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; }
.muted { color: #666; font-size: 0.9rem; } .decision { background: #f0f7ff; padding: 0.6rem
1rem; border-left: 4px solid #4c72b0; } code { font-size: 0.88rem; }
.missing { color: #999; font-style: italic; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    attr = f' id="{_esc(table_id)}"' if table_id else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Figures:
    """Figures as HTML divs; the first one carries plotly.js inline."""

    def __init__(self) -> None:
        self._first = True
        self.count = 0

    def div(self, figure: Any, div_id: str) -> str:
        self.count += 1
        text: str = pio.to_html(
            figure,
            include_plotlyjs=self._first,
            full_html=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
        self._first = False
        return f'<div class="figure">{text}</div>'


def _missing(what: str, hint: str) -> str:
    return f'<p class="missing">No {_esc(what)} in this output root ({_esc(hint)}).</p>'


def _dataset_section(data: ReportData, figures: _Figures) -> str:
    ds = data.dataset
    if ds is None:
        return "<h2>Dataset</h2>" + _missing("dataset", "run the data stage")
    stats = ds.get("stats") or {}
    metrics = ds.get("metrics") or {}
    rows = [
        [split, metrics.get(f"documents_{split}", stats.get(split, {}).get("documents", ""))]
        for split in ("train", "validation", "test")
    ]
    overview = _table(["split", "documents"], rows, table_id="dataset-splits")
    per_type = (stats.get("all") or {}).get("spans_per_type", {})
    parts = [
        "<h2>Dataset</h2>",
        f'<p class="muted">Artifact <code>{_esc(ds["id"])}</code>, data_fp '
        f"<code>{_esc(ds['fingerprints'].get('data_fp', '')[:12])}</code>, "
        f"{_esc(metrics.get('documents', ''))} documents, {_esc(metrics.get('spans', ''))} spans."
        "</p>",
        overview,
    ]
    if per_type:
        parts.append(
            _table(
                ["entity type", "spans"],
                [[k, v] for k, v in per_type.items()],
                table_id="dataset-types",
            )
        )
        figure = go.Figure(
            go.Bar(x=list(per_type), y=list(per_type.values()), text=list(per_type.values()))
        )
        figure.update_layout(title="Spans per entity type", template="plotly_white", height=320)
        parts.append(figures.div(figure, "fig-dataset-types"))
    return "".join(parts)


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


def _hpo_section(data: ReportData, figures: _Figures) -> str:
    parts = ["<h2>HPO</h2>"]
    if not data.studies:
        return "".join(parts) + _missing("study", "run the hpo stage")
    for n, study in enumerate(data.studies):
        metrics = study.get("metrics", {})
        best = study.get("best_trial", {})
        parts.append(f"<h3>{_esc(study['study_name'])} ({_esc(study['backbone'])})</h3>")
        parts.append(
            _table(
                ["best value", "best trial", "complete", "pruned", "failed", "trials from"],
                [
                    [
                        _fmt(metrics.get("best_value")),
                        best.get("number", ""),
                        metrics.get("n_complete", ""),
                        metrics.get("n_pruned", ""),
                        metrics.get("n_failed", ""),
                        study.get("trials_source") or "n/a",
                    ]
                ],
                table_id=f"study-{n}",
            )
        )
        if study["trials"]:
            parts.append(figures.div(_history_figure(study), f"fig-history-{n}"))
        importance = study.get("importance") or {}
        if importance:
            parts.append(
                f'<p class="muted">Parameter importance: {_esc(study["importance_method"])}.</p>'
            )
            parts.append(
                _table(
                    ["parameter", "importance"],
                    [[k, _fmt(v, 3)] for k, v in importance.items()],
                    table_id=f"importance-{n}",
                )
            )
            figure = go.Figure(
                go.Bar(
                    x=list(importance.values()),
                    y=list(importance),
                    orientation="h",
                    text=[f"{v:.3f}" for v in importance.values()],
                )
            )
            figure.update_layout(title="Parameter importance", template="plotly_white", height=260)
            parts.append(figures.div(figure, f"fig-importance-{n}"))
        else:
            parts.append('<p class="muted">Parameter importance: too few varied trials.</p>')
        plot = (study.get("plots") or {}).get("param_importances")
        if plot:
            parts.append(
                f'<p class="muted">Optuna fANOVA importances: <a href="file://{_esc(plot)}">'
                f"{_esc(plot)}</a></p>"
            )
    return "".join(parts)


def _selection_section(data: ReportData) -> str:
    parts = ["<h2>Selection</h2>"]
    sel = data.selection
    if sel is None:
        return "".join(parts) + _missing("selection", "run the select stage")
    report = sel["report"]
    decision = report["decision"]
    champion = report["champion"]
    parts.append(
        f'<div class="decision" id="selection-decision"><b>Champion: '
        f"{_esc(backbone_component(champion['backbone']))}</b> — strategy "
        f"<code>{_esc(decision['strategy'])}</code>, "
        f"rule <code>{_esc(decision['rule'])}</code>.<br>{_esc(decision['reason'])}</div>"
    )
    rows = []
    for c in decision["candidates"]:
        rows.append(
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
        )
    parts.append(
        _table(
            [
                "backbone",
                "score (median top-k)",
                "latency ms",
                "within tolerance",
                "composite",
                "trial",
                "",
            ],
            rows,
            table_id="selection-candidates",
        )
    )
    groups = [
        [
            g["study_name"],
            backbone_component(g["backbone"]),
            g["n_complete"],
            _fmt(g["score"]),
            g["reason"],
        ]
        for g in report.get("groups", [])
    ]
    parts.append(
        _table(
            ["study", "backbone", "complete trials", "score", "why"],
            groups,
            table_id="selection-groups",
        )
    )
    for item in report.get("excluded", []):
        parts.append(
            f'<p class="muted">Excluded {_esc(item["backbone"])}: {_esc(item["reason"])}</p>'
        )
    return "".join(parts)


def _evaluation_section(data: ReportData, figures: _Figures) -> str:
    parts = ["<h2>Evaluation</h2>"]
    if not data.evaluations:
        return "".join(parts) + _missing("evaluation", "run the evaluate stage")
    for n, ev in enumerate(data.evaluations):
        report = ev["report"]
        parts.append(
            f"<h3>{_esc(report['backbone'])} · {_esc(report['backend'])}</h3>"
            f'<p class="muted">Artifact <code>{_esc(ev["id"])}</code> on '
            f"{_esc(report.get('data', {}).get('source', ''))}: {report['documents']} documents, "
            f"{report['support']} gold entities.</p>"
        )
        micro, macro = report["micro"], report["macro"]
        parts.append(
            _table(
                ["average", "precision", "recall", "F1"],
                [
                    ["micro", _fmt(micro["precision"]), _fmt(micro["recall"]), _fmt(micro["f1"])],
                    ["macro", _fmt(macro["precision"]), _fmt(macro["recall"]), _fmt(macro["f1"])],
                ],
                table_id=f"eval-{n}-averages",
            )
        )
        per_type = report["per_type"]
        parts.append(
            _table(
                ["entity type", "precision", "recall", "F1", "support", "predicted"],
                [
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
                table_id=f"eval-{n}-per-type",
            )
        )
        if per_type:
            figure = go.Figure(
                go.Bar(
                    x=list(per_type),
                    y=[round(v["f1"], 4) for v in per_type.values()],
                    text=[f"{v['f1']:.4f}" for v in per_type.values()],
                    textposition="outside",
                )
            )
            figure.update_layout(
                title="F1 per entity type",
                yaxis_range=[0, 1.1],
                template="plotly_white",
                height=320,
            )
            parts.append(figures.div(figure, f"fig-eval-{n}"))
        errors = report["errors"]
        classes = ["correct", *ERROR_CLASSES]
        parts.append(
            _table(
                ["entity type", *[c.replace("_", " ") for c in classes]],
                [[k, *[row.get(c, 0) for c in classes]] for k, row in errors["by_type"].items()]
                + [["total", *[errors["totals"].get(c, 0) for c in classes]]],
                table_id=f"eval-{n}-errors",
            )
        )
        if errors.get("confusion"):
            parts.append(
                _table(
                    ["gold type", "predicted type", "count"],
                    [[c["gold"], c["predicted"], c["count"]] for c in errors["confusion"]],
                    table_id=f"eval-{n}-confusion",
                )
            )
    return "".join(parts)


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


def _latency_section(data: ReportData, figures: _Figures) -> str:
    parts = ["<h2>Latency</h2>"]
    bench = data.benchmark
    if bench is None:
        return "".join(parts) + _missing("benchmark", "run the benchmark stage")
    report = bench["report"]
    timings = _timings(report)
    device = report.get("device", {})
    parts.append(
        f'<p class="muted">Benchmark <code>{_esc(bench["id"])}</code> on '
        f"{_esc(device.get('cpu', ''))}"
        f" ({_esc(device.get('cpu_count', ''))} cores), threads "
        f"{_esc(device.get('threads') or 'all')}, {report['settings']['iterations']} iterations "
        f"after {report['settings']['warmup']} warm-up, {report['settings']['n_texts']} texts.</p>"
    )
    parts.append(figures.div(latency_figure(timings, title="Latency per backend"), "fig-latency"))
    parts.append(_table(LATENCY_HEADERS, _latency_rows(timings), table_id="latency"))
    return "".join(parts)


def _lineage_section(data: ReportData) -> str:
    parts = ["<h2>Lineage of the served model</h2>"]
    if not data.lineage:
        return "".join(parts) + _missing("final model or ONNX package", "run train and convert")
    rows = [
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
    parts.append(
        _table(
            ["kind", "id", "stage", "backbone", "fingerprints", "created"], rows, table_id="lineage"
        )
    )
    return "".join(parts)


def render_html(data: ReportData, *, title: str = "nerp report") -> str:
    """The whole report page (self-contained: CSS and plotly.js inline)."""
    figures = _Figures()
    served = data.served
    head = (
        f'<h1>{_esc(title)}</h1><p class="muted">Output root <code>{_esc(data.output_root)}</code>'
        f" · generated {_esc(data.generated_at)}"
        + (
            f" · served model <code>{_esc(served['id'])}</code> ({_esc(served['backbone'])})"
            if served
            else ""
        )
        + "</p>"
    )
    body = "".join(
        [
            head,
            _dataset_section(data, figures),
            _hpo_section(data, figures),
            _selection_section(data),
            _evaluation_section(data, figures),
            _latency_section(data, figures),
            _lineage_section(data),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
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
