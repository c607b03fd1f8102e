"""Small inline-SVG charts for the HTML report: bars, heatmaps, a forest plot, lines, a 2x2.

Hand-written SVG keeps the report self-contained (one HTML file, no scripts, no network) and
segsync free of a plotting dependency. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, *, percent: bool = False) -> str:
    """Grouped horizontal bars: one group per label, one bar per series."""
    row_h, bar_h, left, width = 18 * max(1, len(series)) + 10, 16, 220, 720
    height = 40 + row_h * len(labels) + 24
    top = max((max(v, default=0) for v in series.values()), default=0) or 1
    plot_w = width - left - 70
    body = [f'<text x="10" y="20" font-weight="bold">{escape(title)}</text>']
    for i, label in enumerate(labels):
        y0 = 34 + i * row_h
        body.append(f'<text x="{left - 8}" y="{y0 + row_h / 2}" text-anchor="end" font-size="12">{escape(str(label))}</text>')
        for j, (name, values) in enumerate(series.items()):
            v = float(values[i])
            w = max(0.0, v / top * plot_w)
            y = y0 + j * 18
            text = f"{v:.1%}" if percent else _fmt(v)
            body.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)}: {text}</title></rect>')
            body.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}" font-size="11">{text}</text>')
    legend_y = height - 10
    for j, name in enumerate(series):
        x = left + j * 160
        body.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
        body.append(f'<text x="{x + 14}" y="{legend_y}" font-size="11">{escape(name)}</text>')
    return _svg(width, height, body, title)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float]], title: str, *, row_title: str = "", col_title: str = "") -> str:
    """A matrix of counts or shares, darker for larger, with the value in each cell."""
    cell, left, top = 46, 170, 60
    width, height = left + cell * len(cols) + 20, top + cell * len(rows) + 20
    peak = max((max(r, default=0) for r in values), default=0) or 1
    body = [f'<text x="10" y="20" font-weight="bold">{escape(title)}</text>']
    if col_title:
        body.append(f'<text x="{left}" y="38" font-size="11" fill="#4a5568">{escape(col_title)}</text>')
    if row_title:
        body.append(f'<text x="10" y="{top - 6}" font-size="11" fill="#4a5568">{escape(row_title)}</text>')
    for j, c in enumerate(cols):
        body.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 6}" text-anchor="middle" font-size="11">{escape(str(c))[:8]}</text>')
    for i, r in enumerate(rows):
        body.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end" font-size="11">{escape(str(r))[:24]}</text>')
        for j, v in enumerate(values[i]):
            v = float(v)
            shade = 0.08 + 0.85 * (v / peak if peak else 0)
            fg = "#fff" if shade > 0.55 else "#1a202c"
            x, y = left + j * cell, top + i * cell
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#2b6cb0" fill-opacity="{shade:.2f}"/>')
            body.append(f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" text-anchor="middle" font-size="11" fill="{fg}">{_fmt(v)}</text>')
    return _svg(width, height, body, title)


def forest_plot(rows: Sequence[dict], title: str) -> str:
    """Estimate and interval per row (label, estimate, low, high, flag); a line at zero.

    Relative lifts as fractions. A flagged row (SRM) is drawn grey and marked.
    """
    row_h, left, right, width = 26, 300, 90, 860
    height = 50 + row_h * len(rows) + 30
    finite = [v for r in rows for v in (r["low"], r["high"], r["estimate"]) if isinstance(v, float | int) and math.isfinite(v)]
    lo, hi = (min(finite + [0.0]), max(finite + [0.0])) if finite else (-0.1, 0.1)
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad
    plot_w = width - left - right

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return left + (v - lo) / (hi - lo) * plot_w

    body = [f'<text x="10" y="20" font-weight="bold">{escape(title)}</text>']
    body.append(f'<line x1="{x(0):.1f}" y1="32" x2="{x(0):.1f}" y2="{height - 24}" stroke="#a0aec0" stroke-dasharray="4 3"/>')
    for tick in _ticks(lo, hi):
        body.append(f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" font-size="10">{tick:+.0%}</text>')
    for i, r in enumerate(rows):
        y = 44 + i * row_h
        color = "#a0aec0" if r.get("flag") else ("#2f855a" if r.get("significant") else "#2b6cb0")
        label = r["label"] + (" (SRM: untrustworthy)" if r.get("flag") else "")
        body.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="11">{escape(label)}</text>')
        est, low, high = (float(r[k]) for k in ("estimate", "low", "high"))
        if all(math.isfinite(v) for v in (low, high)):
            body.append(f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" stroke="{color}" stroke-width="2"/>')
        if math.isfinite(est):
            body.append(f'<circle cx="{x(est):.1f}" cy="{y}" r="4.5" fill="{color}"><title>{escape(r["label"])}: {est:+.1%} [{low:+.1%}, {high:+.1%}]</title></circle>')
            body.append(f'<text x="{width - right + 6}" y="{y + 4}" font-size="11">{est:+.1%}</text>')
    return _svg(width, height, body, title)


def line_chart(points: dict[str, Sequence[tuple[float, float]]], title: str, *, diagonal: bool = False) -> str:
    """Lines in the unit square (e.g. a calibration curve), with an optional diagonal."""
    size, left, top = 260, 40, 30
    body = [f'<text x="10" y="18" font-weight="bold" font-size="13">{escape(title)}</text>']
    body.append(f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#cbd5e0"/>')
    if diagonal:
        body.append(f'<line x1="{left}" y1="{top + size}" x2="{left + size}" y2="{top}" stroke="#a0aec0" stroke-dasharray="4 3"/>')
    for j, (name, pts) in enumerate(points.items()):
        coords = " ".join(f"{left + px * size:.1f},{top + size - py * size:.1f}" for px, py in pts if math.isfinite(px) and math.isfinite(py))
        body.append(f'<polyline points="{coords}" fill="none" stroke="{PALETTE[j % len(PALETTE)]}" stroke-width="2"><title>{escape(name)}</title></polyline>')
        body.append(f'<text x="{left + size + 8}" y="{top + 14 + j * 14}" font-size="11" fill="{PALETTE[j % len(PALETTE)]}">{escape(name)}</text>')
    return _svg(left + size + 160, top + size + 20, body, title)


def quadrant_chart(points: Sequence[dict], title: str, *, x_label: str, y_label: str, x_split: float, y_split: float,
                   corners: tuple[str, str, str, str]) -> str:
    """A 2x2 chart: one bubble per point (label, x, y, size, highlight), lines at the splits.

    corners: the quadrant names top-left, top-right, bottom-left, bottom-right. Bubble area
    follows `size`; highlighted points are filled, the others outlined.
    """
    width, height, left, top, right, bottom = 860, 440, 80, 40, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [float(p["x"]) for p in points if math.isfinite(float(p["x"]))] + [x_split]
    ys = [float(p["y"]) for p in points if math.isfinite(float(p["y"]))] + [y_split]
    x_lo, x_hi = _padded(xs)
    y_lo, y_hi = _padded(ys)

    def px(v: float) -> float:
        return left + (min(max(v, x_lo), x_hi) - x_lo) / (x_hi - x_lo) * plot_w

    def py(v: float) -> float:
        return top + plot_h - (min(max(v, y_lo), y_hi) - y_lo) / (y_hi - y_lo) * plot_h

    body = [f'<text x="10" y="20" font-weight="bold">{escape(title)}</text>',
            f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#cbd5e0"/>',
            f'<line x1="{px(x_split):.1f}" y1="{top}" x2="{px(x_split):.1f}" y2="{top + plot_h}" stroke="#a0aec0" stroke-dasharray="4 3"/>',
            f'<line x1="{left}" y1="{py(y_split):.1f}" x2="{left + plot_w}" y2="{py(y_split):.1f}" stroke="#a0aec0" stroke-dasharray="4 3"/>',
            f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle" font-size="12">{escape(x_label)}</text>',
            f'<text x="16" y="{top + plot_h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 {top + plot_h / 2})">{escape(y_label)}</text>']
    body += _corner_labels(corners, left, top, plot_w, plot_h)
    peak = max((float(p["size"]) for p in points), default=1.0) or 1.0
    labels: list[str] = []
    placed: list[tuple[float, float, float]] = []  # (x0, x1, y) of the labels drawn so far
    for i, p in enumerate(points):
        x, y, r = px(float(p["x"])), py(float(p["y"])), 6 + 22 * math.sqrt(max(float(p["size"]), 0.0) / peak)
        color = PALETTE[i % len(PALETTE)]
        fill = f'fill="{color}" fill-opacity="0.55"' if p.get("highlight") else 'fill="#fff" fill-opacity="0.6"'
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {fill} stroke="{color}" stroke-width="2">'
                    f'<title>{escape(str(p["label"]))}: {escape(str(p.get("detail", "")))}</title></circle>')
        labels.append(_bubble_label(str(p["label"]), x, y, r, right=x > left + plot_w * 0.7, placed=placed))
    body += labels  # above every bubble
    for tick in _ticks(x_lo, x_hi):
        body.append(f'<text x="{px(tick):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="10">{_fmt(tick)}</text>')
    for tick in _ticks(y_lo, y_hi):
        body.append(f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" font-size="10">{_fmt(tick)}</text>')
    return _svg(width, height, body, title)


def _bubble_label(text: str, x: float, y: float, r: float, *, right: bool,
                  placed: list[tuple[float, float, float]]) -> str:
    """A bubble's name beside it, moved down in 15 px steps while it would overlap a label
    already placed (segments of similar value and cost sit on top of each other)."""
    width = 6.8 * len(text)
    x0 = x - r - 4 - width if right else x + r + 4
    ty = y + 4
    while any(a < x0 + width and x0 < b and abs(ty - py) < 14 for a, b, py in placed):
        ty += 15
    placed.append((x0, x0 + width, ty))
    return (f'<text x="{x0:.1f}" y="{ty:.1f}" font-size="12" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f'{escape(text)}</text>')


def _corner_labels(corners: tuple[str, str, str, str], left: float, top: float, w: float, h: float) -> list[str]:
    """The quadrant names in the plot's corners: top-left, top-right, bottom-left, bottom-right."""
    spots = ((left + 8, top + 18, "start"), (left + w - 8, top + 18, "end"),
             (left + 8, top + h - 8, "start"), (left + w - 8, top + h - 8, "end"))
    return [f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="13" fill="#718096" font-weight="bold">{escape(name)}</text>'
            for (x, y, anchor), name in zip(spots, corners, strict=True)]


def _padded(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.12 or abs(hi) * 0.1 or 1.0
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 4)) if span > 0 else 0.1
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]
