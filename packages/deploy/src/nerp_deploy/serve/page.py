"""The demo page ``GET /`` serves: one HTML file shipped in the wheel, inline CSS and JS.

It calls the API's own ``/predict`` and ``/predict/file`` (relative URLs, so it works behind
a path prefix) and builds the highlights with DOM nodes, so it needs no CDN, no build step
and no network beyond the server.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["demo_html"]


@cache
def demo_html() -> str:
    """The page's HTML (read once from ``nerp_deploy/serve/static/demo.html``)."""
    return files("nerp_deploy.serve").joinpath("static", "demo.html").read_text(encoding="utf-8")
