"""Server-rendered SVG bar charts (SPEC §12 screen 1): no JavaScript, no chart service, no CDN. Each chart
is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (WAI-ARIA graphics) and every bar carries its
own ``<title>``, so the numbers reach screen readers and tooltips alike."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 960, 150, 24
COLOURS = {"success": "#07c160", "refused": "#cf222e", "other": "#8c959f", "users": "#0969da", "qr": "#bf8700"}


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]


def bars(title: str, labels: list[str], series: list[Series], chart_id: str) -> Markup:
    """Stacked bars, one per label; ``series`` stack bottom-up in the given order."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(labels), 1)
    summary = ", ".join(f"{s.name} {sum(s.values)}" for s in series)
    parts = [f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT + PAD}" '
             f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
             f'<desc id="{escape(chart_id)}-d">{escape(summary)}; highest {max(totals, default=0)}</desc>',
             f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" stroke="#d0d7de"/>']
    for i, label in enumerate(labels):
        y: float = HEIGHT
        for s in series:
            value = s.values[i]
            if not value:
                continue
            h = (HEIGHT - PAD) * value / top
            y -= h
            parts.append(f'<rect x="{PAD + i * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{COLOURS.get(s.name, COLOURS["other"])}">'
                         f'<title>{escape(label)}: {escape(s.name)} {value}</title></rect>')
        if i % max(len(labels) // 6, 1) == 0:
            parts.append(f'<text x="{PAD + i * step:.1f}" y="{HEIGHT + 16}" font-size="11" fill="#59636e">'
                         f'{escape(label)}</text>')
    parts.append(f'<text x="{PAD}" y="{PAD - 8}" font-size="11" fill="#59636e">max {top}</text></svg>')
    return Markup("".join(parts))
