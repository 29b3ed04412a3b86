"""``nerp report``: the report of one output root, as a ``report`` artifact.

The artifact holds ``report.html`` (self-contained), ``report.md`` and ``report.json``
(the data the page shows). It is keyed by the ids and update times of the artifacts it
shows, so re-running without new results returns the same report.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from nerp_eval.report.collect import ReportData, collect_report_data, updated_stamps
from nerp_eval.report.render import render_html, render_markdown
from nerp_infra.artifacts import (
    ArtifactIndex,
    IndexedArtifact,
    RunMode,
    begin_artifact,
    kinds,
)
from nerp_infra.artifacts.kinds import REPORT_KIND
from nerp_infra.artifacts.payloads import ReportPayload
from nerp_infra.config import TrackingConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import ANY_BACKBONE, OutputLayout

__all__ = [
    "REPORT_DATA_FILE",
    "REPORT_HTML",
    "REPORT_KIND",
    "REPORT_MD",
    "ReportRun",
    "write_report",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "REPORT_STAGE": "nerp_infra.artifacts.kinds:REPORT_STAGE",
    },
)

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
REPORT_DATA_FILE = "report.json"
REPORT_FORMAT = 2  # 2: predictions on test documents


@dataclass(frozen=True)
class ReportRun:
    """Where the report is and what it shows."""

    artifact_id: str
    artifact_dir: Path
    action: str
    html: Path
    markdown: Path
    data: dict[str, object]


def write_report(
    index: ArtifactIndex,
    layout: OutputLayout,
    *,
    served: IndexedArtifact | None = None,
    tracking: TrackingConfig | None = None,
    run_mode: RunMode = "reuse_if_exists",
    title: str = "nerp report",
    copy_to: Path | None = None,
) -> ReportRun:
    """Collect, render and write the report artifact (or reuse an identical one).

    ``served`` is the model or ONNX package the report is about (see
    :func:`~nerp_eval.report.collect.collect_report_data`). ``copy_to`` also copies
    ``report.html`` and ``report.md`` into that folder.
    """
    data: ReportData = collect_report_data(index, served=served, tracking=tracking)
    stamps = updated_stamps(index, data.artifact_ids)
    report_fp = fingerprint(
        {"fp": "report", "format": REPORT_FORMAT, "artifacts": stamps, "title": title}
    )
    decision = begin_artifact(
        index,
        layout,
        kind=REPORT_KIND,
        stage=kinds.REPORT_STAGE,
        backbone=ANY_BACKBONE,
        fingerprints={"report_fp": report_fp},
        lineage=sorted(stamps),
        config={"title": title},
        run_mode=run_mode,
    )
    handle = decision.handle
    html_path, md_path = handle.dir / REPORT_HTML, handle.dir / REPORT_MD
    if decision.should_run:
        with handle.failing_on_error():
            payload = data.as_dict()
            (handle.dir / REPORT_DATA_FILE).write_text(
                json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8"
            )
            html_path.write_text(render_html(data, title=title), encoding="utf-8")
            md_path.write_text(render_markdown(data, title=title), encoding="utf-8")
            handle.complete(
                metrics={"artifacts": len(stamps)},
                extra=ReportPayload(served=data.served["id"] if data.served else None).as_extra(),
            )
        shown = payload
    else:
        shown = json.loads((handle.dir / REPORT_DATA_FILE).read_text(encoding="utf-8"))
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html_path, copy_to / REPORT_HTML)
        shutil.copyfile(md_path, copy_to / REPORT_MD)
    return ReportRun(handle.id, handle.dir, decision.action, html_path, md_path, shown)
