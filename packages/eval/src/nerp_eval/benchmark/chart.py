"""Latency bar charts (plotly), shared by benchmark artifacts and the report.

Figures are written self-contained (plotly.js inlined): reports are opened offline, from
a laptop's disk or an Azure ML outputs folder, where a CDN script would not load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from nerp_eval.benchmark.timing import BatchTiming

__all__ = ["latency_figure", "write_figure_html"]

BACKEND_COLOURS = {
    "torch": "#ee4c2c",
    "onnx_fp32": "#4c72b0",
    "onnx_int8": "#55a868",
    "openvino_bf16": "#8172b2",
}


def latency_figure(timings: Sequence[BatchTiming], *, title: str = "Latency per batch") -> Any:
    """Grouped bars: p50 latency (ms) per batch size, one bar per backend; p95 as error bar
    and the tokenisation share as a second, lighter series so its cost is visible."""
    figure = go.Figure()
    backends = list(dict.fromkeys(t.backend for t in timings))
    for backend in backends:
        rows = [t for t in timings if t.backend == backend]
        x = [f"batch {t.batch_size}" for t in rows]
        figure.add_trace(
            go.Bar(
                name=f"{backend} p50",
                x=x,
                y=[round(t.latency.p50_ms, 3) for t in rows],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [round(t.latency.p95_ms - t.latency.p50_ms, 3) for t in rows],
                    "arrayminus": [0.0] * len(rows),
                },
                marker_color=BACKEND_COLOURS.get(backend),
                text=[f"{t.latency.p50_ms:.2f} ms" for t in rows],
                textposition="outside",
                hovertemplate=(f"{backend}<br>%{{x}}<br>p50 %{{y:.2f}} ms<extra></extra>"),
            )
        )
        figure.add_trace(
            go.Bar(
                name=f"{backend} tokenisation",
                x=x,
                y=[round(t.tokenization.p50_ms, 3) for t in rows],
                marker_color=BACKEND_COLOURS.get(backend),
                opacity=0.35,
                hovertemplate=(
                    f"{backend} tokenisation<br>%{{x}}<br>p50 %{{y:.2f}} ms<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        title=title,
        barmode="group",
        yaxis_title="milliseconds per batch (p50, bar to p95)",
        legend_title="backend",
        template="plotly_white",
        height=420,
    )
    return figure


def write_figure_html(figure: Any, path: Path, *, title: str) -> Path:
    """A standalone HTML page holding the figure and plotly.js itself."""
    html = pio.to_html(figure, include_plotlyjs=True, full_html=True)
    html = html.replace("<head>", f"<head><title>{title}</title>", 1)
    path.write_text(html, encoding="utf-8")
    return path
