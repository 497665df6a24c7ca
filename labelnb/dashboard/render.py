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


__all__ = ["annotator_rows", "css_color", "highlight_spans", "text_block"]
