"""The report of a summary or a comparison as text: a plain table, Markdown (labels escaped) and
strict JSON."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import numpy as np

from landscape.analysis.verdict import format_number, metric_rows

__all__ = ["format_table", "format_markdown", "to_json", "markdown_escape"]


def _cell(value: Any, se: Any) -> str:
    text = format_number(value)
    if se is not None and np.isfinite(se) and value is not None and np.isfinite(value):
        text += f" ± {format_number(se)}"
    return text


def _table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    if "rows" in result:  # a comparison
        header = ["metric", *result["labels"], "B − A"]
        body = []
        diffs = result.get("differences", {})  # B − A, paired where the samples are shared
        for name, va, ea, vb, eb in result["rows"]:
            diff = se = None
            if isinstance(va, (int, float, np.number)) and isinstance(vb, (int, float, np.number)):
                diff = float(vb) - float(va) if np.isfinite(va) and np.isfinite(vb) else None
                se = diffs.get(name, {}).get("error")
            body.append([name, _cell(va, ea), _cell(vb, eb),
                         "-" if diff is None else _cell(diff, se)])
    else:  # one summary
        header = ["metric", "value"]
        body = [[n, _cell(v, e)] for n, v, e in metric_rows(result)]
    return header, body


def _notes(result: dict[str, Any]) -> list[str]:
    if "summaries" in result:
        return [f"{label}: {note}" for label, s in result["summaries"].items()
                for note in s["notes"]]
    return list(result.get("notes", []))


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of `summarize(...)` or `compare(...)`, with its notes below and, for
    a comparison, the verdict."""
    header, body = _table(result)
    widths = [max(len(row[k]) for row in [header, *body]) for k in range(len(header))]

    def fmt_row(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) if k == 0 else cell.rjust(w)
                         for k, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    lines = [fmt_row(header), "  ".join("-" * w for w in widths)]
    lines += [fmt_row(row) for row in body]
    lines += [f"note: {n}" for n in _notes(result)]
    if "verdict" in result:
        lines += ["", result["verdict"]["text"]]
    return "\n".join(lines)


_MD_SPECIAL = set("\\`*_[]|~")


def markdown_escape(text: str) -> str:
    """`text` as literal Markdown: no HTML, no emphasis, code or links, no table breaks, no
    control characters (shown as escapes, e.g. \\x1b)."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else
                   ch.encode("unicode_escape").decode("ascii") for ch in str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)
    if text[:1] in ("#", "+", "-", "=") or text.split(".")[0].isdigit() and "." in text[:4]:
        text = "\\" + text  # would start a heading or a list
    return text


def format_markdown(result: dict[str, Any]) -> str:
    """A Markdown table of `summarize(...)` or `compare(...)`, with its notes as a list and,
    for a comparison, a closing "Verdict" section. Labels are escaped (no raw HTML)."""
    header, body = _table(result)
    header = [header[0], *(markdown_escape(h) for h in header[1:])]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    notes = _notes(result)
    if notes:
        lines.append("")
        lines += [f"- {markdown_escape(n)}" for n in notes]
    if "verdict" in result:
        lines += ["", "## Verdict"]
        listed = None  # each sentence its own paragraph, the metrics' lines one list
        for line in result["verdict"]["text"].splitlines():
            item = line.startswith("- ")
            if not (item and listed):
                lines.append("")
            lines.append(("- " + markdown_escape(line[2:])) if item else markdown_escape(line))
            listed = item
    return "\n".join(lines) + "\n"


def to_json(result: dict[str, Any]) -> str:
    """`summarize(...)` or `compare(...)` as strict JSON: NaN becomes null, ±inf "inf"/"-inf"."""
    import json

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, (float, np.floating)):
            if math.isnan(value):
                return None
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return float(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        return value

    return json.dumps(clean(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
