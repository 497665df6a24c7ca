"""HTML for the disagreement browser: texts with each annotator's spans highlighted.

Everything a user typed (texts, label and annotator names) goes through
:func:`html.escape`; only the markup built here is HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from labelnb.types import Span


def highlight_spans(text: str, spans: Sequence[Span], colors: Mapping[str, str]) -> str:
    """``text`` as escaped HTML with each span in a ``<mark>`` coloured by its label
    (overlapping spans: the segment takes the first span that covers it, and the
    title lists them all).

    >>> highlight_spans("<i>Ann</i>", [Span(3, 6, "PER")], {"PER": "#f00"})
    '&lt;i&gt;<mark class="lnb-span" style="background:#f00" title="PER">Ann</mark>&lt;/i&gt;'
    """
    cuts = sorted({0, len(text)} | {min(max(s.start, 0), len(text)) for s in spans}
                  | {min(max(s.end, 0), len(text)) for s in spans})
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        piece = html.escape(text[a:b])
        over = [s for s in spans if s.start <= a and b <= s.end]
        if not over:
            out.append(piece)
            continue
        color = colors.get(over[0].label, "#ffe08a")
        title = html.escape(", ".join(dict.fromkeys(s.label for s in over)))
        out.append(f'<mark class="lnb-span" style="background:{css_color(color)}" '
                   f'title="{title}">{piece}</mark>')
    return "".join(out)


#: the colour of each task status in the queue's bars (other statuses: grey)
STATUS_COLORS = {"open": "#bab0ac", "leased": "#4e79a7", "expired": "#e15759",
                 "done": "#59a14f", "cancelled": "#9c755f"}
_CELL = 'style="text-align:right;padding:2px 10px"'


def queue_table(stages: Sequence[str], statuses: Sequence[str],
                counts: Sequence[Sequence[int]], *, bar_px: int = 220) -> str:
    """The queue as one HTML table: a row per stage with its task count per status, the
    total, and a bar of the stage's tasks stacked by status (each part's width is its
    share; its tooltip gives the count). Plain HTML: no chart to build or draw.

    >>> html_ = queue_table(["annotate"], ["open", "done"], [[1, 3]])
    >>> "<th" in html_ and 'title="done: 3 (75.0%)"' in html_ and "width:75.000%" in html_
    True
    """
    head = "".join(f"<th {_CELL}>{html.escape(s)}</th>" for s in statuses)
    rows = []
    for stage, row in zip(stages, counts, strict=True):
        total = int(sum(row))
        parts = "".join(
            f'<span style="display:inline-block;height:100%;width:{100 * n / total:.3f}%;'
            f'background:{STATUS_COLORS.get(st, "#cccccc")}" '
            f'title="{html.escape(st)}: {n} ({100 * n / total:.1f}%)"></span>'
            for st, n in zip(statuses, row, strict=True) if n and total)
        bar = (f'<div class="lnb-queue-bar" style="width:{bar_px}px;height:14px;'
               f'background:#f0f0f0;white-space:nowrap;overflow:hidden;font-size:0">'
               f"{parts}</div>")
        cells = "".join(f"<td {_CELL}>{int(n)}</td>" for n in row)
        rows.append(f'<tr><th style="text-align:left;padding:2px 10px">{html.escape(stage)}'
                    f"</th>{cells}<td {_CELL}><b>{total}</b></td>"
                    f'<td style="padding:2px 10px">{bar}</td></tr>')
    legend = " ".join(
        f'<span style="white-space:nowrap"><span style="color:'
        f'{STATUS_COLORS.get(st, "#cccccc")}">&#9632;</span> {html.escape(st)}</span>'
        for st in statuses)
    return (f'<table class="lnb-queue" style="border-collapse:collapse">'
            f'<thead><tr><th style="text-align:left;padding:2px 10px">stage</th>{head}'
            f"<th {_CELL}>total</th>"
            f'<th style="text-align:left;padding:2px 10px">tasks by status</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            f'<p class="lnb-legend" style="font-size:90%">{legend}</p>')


def css_color(color: str) -> str:
    """Only ``#hex`` colours reach a style attribute."""
    c = color.strip()
    if c.startswith("#") and all(ch in "0123456789abcdefABCDEF" for ch in c[1:]) \
            and len(c) in (4, 7):
        return c
    return "#ffe08a"


def text_block(text: str) -> str:
    return f'<div class="lnb-text" style="white-space:pre-wrap">{html.escape(text)}</div>'


def annotator_rows(rows: Sequence[tuple[str, str, str]]) -> str:
    """A table of ``(annotator, color, inner_html)``; the name is escaped here, the
    inner HTML must already be safe."""
    body = "".join(
        f'<tr><td style="white-space:nowrap;vertical-align:top;padding-right:1em">'
        f'<span style="color:{css_color(color)}">&#9632;</span> '
        f'<b class="lnb-annotator">{html.escape(name)}</b></td>'
        f'<td style="white-space:pre-wrap">{inner}</td></tr>'
        for name, color, inner in rows)
    return f'<table class="lnb-disagreement">{body}</table>'


__all__ = ["STATUS_COLORS", "annotator_rows", "css_color", "highlight_spans",
           "queue_table", "text_block"]
