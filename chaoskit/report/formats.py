"""The report formats by name, and writing a report to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chaoskit.errors import ConfigError
from chaoskit.report.model import Report

__all__ = ["FORMATS", "Renderer", "format_for_path", "render", "write_report"]

FORMATS = ("text", "json", "junit", "html")

_SUFFIXES = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".json": "json",
    ".xml": "junit",
    ".html": "html",
    ".htm": "html",
}


class Renderer(Protocol):
    """One report format: built from a report, renders a string."""

    def render(self) -> str: ...


def _renderer(report: Report, fmt: str) -> Renderer:
    if fmt == "text":
        from chaoskit.report.text import TextReport

        return TextReport(report)
    if fmt == "json":
        from chaoskit.report.json import JsonReport

        return JsonReport(report)
    if fmt == "junit":
        from chaoskit.report.junit import JUnitReport

        return JUnitReport(report)
    if fmt == "html":
        from chaoskit.report.html import HtmlReport

        return HtmlReport(report)
    raise ConfigError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


def render(report: Report, fmt: str) -> str:
    """The report as a string in format ``fmt`` (text, json, junit, html)."""
    return _renderer(report, fmt.lower()).render()


def format_for_path(path: str | Path) -> str:
    """The format a file name implies (``.xml`` is JUnit); ConfigError if it implies none."""
    suffix = Path(path).suffix.lower()
    fmt = _SUFFIXES.get(suffix)
    if fmt is None:
        raise ConfigError(
            f"cannot tell the report format from the file name {str(path)!r}; "
            f"use one of {', '.join(sorted(_SUFFIXES))} or give the format"
        )
    return fmt


def write_report(report: Report, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``report`` to ``path`` (parent directories created) and return the path."""
    out = Path(path)
    text = render(report, fmt or format_for_path(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    # an undecodable file name in an error message is a lone surrogate: keep it visible
    out.write_text(text, encoding="utf-8", errors="backslashreplace")
    return out
