"""Reports of a pipeline output root: one self-contained HTML page and a Markdown summary."""

from nerp_eval.report.chromium import find_chromium, render_dom
from nerp_eval.report.collect import ReportData, collect_report_data
from nerp_eval.report.importance import parameter_importance
from nerp_eval.report.render import render_html, render_markdown
from nerp_eval.report.run import REPORT_KIND, ReportRun, write_report

__all__ = [
    "REPORT_KIND",
    "ReportData",
    "ReportRun",
    "collect_report_data",
    "find_chromium",
    "parameter_importance",
    "render_dom",
    "render_html",
    "render_markdown",
    "write_report",
]
