"""Small charts drawn on the server as SVG: no JavaScript, no network, readable on a phone.

Each function returns markup to drop into a template. Colours come from classes in
``static/panel.css``; the SVG scales to its container (``viewBox``), and every chart carries a text
title for screen readers. Labels are escaped here, values are numbers.
"""

from __future__ import annotations

from markupsafe import Markup, escape

W, H = 640, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 14, 34


def _nice_max(value: float) -> float:
    """A round top for the axis (1, 2, 5 × 10^n) so gridlines fall on readable numbers."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _frame(title: str, body: list[str], empty: bool, empty_text: str, height: int = H) -> Markup:
    """The chart with its title as a visible caption (and as the SVG's accessible name)."""
    parts = [
        f'<figure class="chart-figure"><figcaption>{escape(title)}</figcaption>',
        f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        *body,
    ]
    if empty:
        parts.append(f'<text class="chart-empty" x="{W / 2}" y="{height / 2}" text-anchor="middle">{escape(empty_text)}</text>')
    parts.append("</svg></figure>")
    return Markup("".join(parts))


def _axis(top: float, percent: bool) -> list[str]:
    out = []
    plot_h = H - PAD_T - PAD_B
    for i in range(5):
        value = top * i / 4
        y = PAD_T + plot_h - plot_h * i / 4
        out.append(f'<line class="chart-grid" x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}"/>')
        out.append(f'<text class="chart-label" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value, percent)}</text>')
    return out


def bar_chart(labels: list[str], values: list[float], title: str, empty_text: str = "",
              label_every: int = 1) -> Markup:
    """Vertical bars, e.g. calls per hour of the day."""
    top = max(_nice_max(max(values, default=0)), 4)  # counts: whole numbers on the axis
    body = _axis(top, False)
    n = max(len(values), 1)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    slot = plot_w / n
    for i, (label, value) in enumerate(zip(labels, values)):
        h = plot_h * value / top
        x = PAD_L + i * slot + slot * 0.15
        y = PAD_T + plot_h - h
        body.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {_fmt(value, False)}</title></rect>"
        )
        if i % label_every == 0:
            body.append(f'<text class="chart-label" x="{x + slot * 0.35:.1f}" y="{H - PAD_B + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    return _frame(title, body, not any(values), empty_text)


def share_bars(items: list[tuple[str, int]], title: str, empty_text: str = "") -> Markup:
    """Horizontal bars with counts and shares, e.g. call outcomes."""
    total = sum(v for _, v in items)
    rows = max(len(items), 1)
    row_h = 34
    height = max(90, int(16 + rows * row_h))
    label_w = 200
    body = []
    for i, (label, value) in enumerate(items):
        y = 8 + i * row_h
        width = (W - label_w - 90) * (value / total if total else 0)
        share = f"{value / total * 100:.0f}%" if total else "0%"
        body.append(f'<text class="chart-label" x="{label_w - 8}" y="{y + row_h * 0.62:.1f}" text-anchor="end">'
                    f"{escape(label)}</text>")
        body.append(f'<rect class="chart-bar chart-bar-{i % 6}" x="{label_w}" y="{y + 3:.1f}" width="{width:.1f}" '
                    f'height="{row_h - 8:.1f}"><title>{escape(label)}: {value}</title></rect>')
        body.append(f'<text class="chart-value" x="{label_w + width + 6:.1f}" y="{y + row_h * 0.62:.1f}">'
                    f"{value} ({share})</text>")
    return _frame(title, body, total == 0, empty_text, height)


def line_chart(labels: list[str], series: list[tuple[str, list[float | None]]], title: str,
               percent: bool = True, empty_text: str = "", label_every: int = 1) -> Markup:
    """Lines over days, e.g. opt-out rate and complaint rate per day of a campaign. None = no data."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice_max(max(values, default=0)) if not percent else max(_nice_max(max(values, default=0)), 0.05)
    body = _axis(top, percent)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)
    for i, label in enumerate(labels):
        if (n - 1 - i) % label_every == 0:  # count from the end: the latest day is always labelled
            body.append(f'<text class="chart-label" x="{PAD_L + i * step:.1f}" y="{H - PAD_B + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    for k, (name, vs) in enumerate(series):
        points = [(PAD_L + i * step, PAD_T + plot_h - plot_h * v / top) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline class="chart-line chart-line-{k}" points="{path}" fill="none"/>')
        for (x, y), v in zip(points, [v for v in vs if v is not None]):
            body.append(f'<circle class="chart-dot chart-line-{k}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                        f"<title>{escape(name)}: {_fmt(v, percent)}</title></circle>")
        body.append(f'<rect class="chart-key chart-line-{k}" x="{PAD_L + 40 + k * 200}" y="{PAD_T + 8}" width="12" height="12"/>')
        body.append(f'<text class="chart-label" x="{PAD_L + 58 + k * 200}" y="{PAD_T + 19}">{escape(name)}</text>')
    return _frame(title, body, not values, empty_text)
