"""Geometry for the server-rendered SVG charts: numbers only; the markup is a Jinja template.

Keeping the markup in an autoescaped template (templates/reports/_trend.svg.html) means no text
ever reaches the page unescaped, and presentation attributes (fill, stroke) instead of style=""
keep the chart inside the CSP (style-src 'self').
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above value (at least 1): a readable axis top."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    index: int


@dataclass
class Dot:
    x: float
    y: float
    index: int


@dataclass
class TrendChart:
    """A weekly bar (received) + line (completed) chart in a fixed viewBox."""

    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    y_max: int
    y_ticks: list[tuple[float, int]] = field(default_factory=list)
    x_labels: list[tuple[float, int]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)

    @property
    def bottom(self) -> float:
        return self.top + self.plot_height

    @property
    def right(self) -> float:
        return self.left + self.plot_width

    @property
    def line_points(self) -> str:
        return " ".join(f"{d.x:.1f},{d.y:.1f}" for d in self.dots)


def trend_chart(received: list[int], completed: list[int], *, width: int = 760, height: int = 260,
                max_labels: int = 12) -> TrendChart:
    """Lay out one bar per week for `received` and a line through `completed`."""
    left, top, right_pad, bottom_pad = 44, 16, 12, 40
    plot_w = width - left - right_pad
    plot_h = height - top - bottom_pad
    n = max(len(received), 1)
    y_max = nice_ceiling(max(received + completed + [0]))
    chart = TrendChart(width, height, left, top, plot_w, plot_h, y_max)
    for i in range(5):
        value = y_max * i / 4
        if value == int(value):
            chart.y_ticks.append((top + plot_h - plot_h * value / y_max, int(value)))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.6)
    every = max(1, math.ceil(n / max_labels))
    for i, (r, c) in enumerate(zip(received, completed, strict=True)):
        centre = left + slot * (i + 0.5)
        h = plot_h * r / y_max
        chart.bars.append(Bar(round(centre - bar_w / 2, 1), round(top + plot_h - h, 1), round(bar_w, 1),
                              round(h, 1), i))
        chart.dots.append(Dot(round(centre, 1), round(top + plot_h - plot_h * c / y_max, 1), i))
        if i % every == 0:
            chart.x_labels.append((round(centre, 1), i))
    return chart
