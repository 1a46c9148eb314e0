"""Small server-side SVG charts: bars with patterns and labels, readable without colour."""

from __future__ import annotations

from markupsafe import Markup, escape

# Pattern ids are prefixed with the chart's own name: two charts on one page must not share ids.
PATTERNS = [
    (
        '<pattern id="{chart}-p0" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#6a1b9a"/></pattern>'
    ),
    (
        '<pattern id="{chart}-p1" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="#c77700"/></pattern>'
    ),
    (
        '<pattern id="{chart}-p2" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#e3f2fd"/>'
        '<circle cx="3" cy="3" r="1.6" fill="#0d47a1"/></pattern>'
    ),
]


def stacked_bars(
    chart: str, title: str, labels: list[str], series: dict[str, list[int]], width: int = 900, height: int = 260
) -> Markup:
    """A stacked bar chart; each series has its own pattern, named in the legend; totals on top."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = max([*totals, 1])
    left, bottom, legend = 40, 40, 24
    plot_h = height - bottom - legend - 10
    step = (width - left - 10) / max(1, len(labels))
    bar = max(2.0, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title><defs>{"".join(p.replace("{chart}", chart) for p in PATTERNS)}</defs>'
    ]
    parts.append(f'<line x1="{left}" y1="{legend + plot_h}" x2="{width - 10}" y2="{legend + plot_h}" stroke="#444"/>')
    parts.append(f'<text x="{left - 6}" y="{legend + 10}" text-anchor="end" font-size="11">{top}</text>')
    for index, label in enumerate(labels):
        x = left + index * step + (step - bar) / 2
        y = legend + plot_h
        for number, values in enumerate(series.values()):
            h = plot_h * values[index] / top
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="url(#{chart}-p{number % 3})" stroke="#333" stroke-width="0.5"/>'
                )
        if totals[index] and len(labels) <= 31:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">{totals[index]}</text>'
            )
        every = 1 if len(labels) <= 12 else (5 if len(labels) <= 31 else 10)
        if index % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{legend + plot_h + 14}" text-anchor="middle" font-size="10">{escape(label)}</text>'
            )
    lx = left
    for number, name in enumerate(series):
        parts.append(
            f'<rect x="{lx}" y="4" width="14" height="14" fill="url(#{chart}-p{number % 3})" stroke="#333"/>'
            f'<text x="{lx + 20}" y="15" font-size="12">{escape(name)}</text>'
        )
        lx += 40 + 7 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))
