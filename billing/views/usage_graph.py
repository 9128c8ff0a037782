"""The usage graph, drawn on the server as SVG: no JavaScript, readable in any browser and
by screen readers (a title, a description, and the same data as a table on the page).

Rates: inbound and outbound rate over the period (each point the highest 5-minute rate
in its column of pixels, so peaks are never smoothed away), with the billed 95th
percentile and the commit as horizontal lines. Transfer: the cumulative transfer
against the allowance.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

from billing.usage.rates import BITS_PER_MBIT, BYTES_PER_GB, SLOT_SECONDS

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power + 1e-12:
            return step * power
    return 10 * power


def y_of(value: float, top_value: float) -> float:
    return round(TOP + PLOT_HEIGHT - value / top_value * PLOT_HEIGHT, 2)


@dataclass
class Level:
    css: str
    label: str
    value: float  # in the graph's unit
    y: float = 0.0


@dataclass
class Graph:
    kind: str  # "rate" or "transfer"
    title: str
    description: str
    unit: str
    top_value: float = 1.0
    series: list[dict] = field(default_factory=list)  # css, label, points
    levels: list[Level] = field(default_factory=list)
    legend: list[dict] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    plot: dict = field(default_factory=lambda: {"x": LEFT, "y": TOP, "width": PLOT_WIDTH, "height": PLOT_HEIGHT})


def _period(start: dt.datetime, end: dt.datetime) -> str:
    return f"{start:%-d %B %Y} to {(end - dt.timedelta(seconds=1)):%-d %B %Y}"


def _x(moment: dt.datetime, start: dt.datetime, end: dt.datetime) -> float:
    return round(LEFT + (moment - start).total_seconds() / (end - start).total_seconds() * PLOT_WIDTH, 2)


def _axes(graph: Graph, start: dt.datetime, end: dt.datetime) -> None:
    graph.y_ticks = [
        {"y": y_of(graph.top_value * i / 4, graph.top_value), "label": f"{graph.top_value * i / 4:g}"} for i in range(5)
    ]
    days = (end - start).days
    step = 7 if days > 10 else 1
    graph.x_ticks = [
        {"x": _x(start + dt.timedelta(days=d), start, end), "label": f"{(start + dt.timedelta(days=d)):%-d %b}"}
        for d in range(0, days, step)
    ]
    for level in graph.levels:
        level.y = y_of(level.value, graph.top_value)
    keys = [(s["css"], f"■ {s['label']}", 110) for s in graph.series] + [
        (level.css, f"— {level.label}", 230) for level in graph.levels
    ]
    x = 0
    graph.legend = []
    for css, label, width in keys:
        graph.legend.append({"css": css, "label": label, "x": x})
        x += width


def _columns(samples, start: dt.datetime, end: dt.datetime, until: dt.datetime):
    """Per pixel column up to ``until``: the highest inbound and outbound bytes of its samples
    (missing samples count as zero)."""
    slot_count = max(1, int((end - start).total_seconds()) // SLOT_SECONDS)
    columns = min(PLOT_WIDTH, slot_count)
    top_in, top_out = [0] * columns, [0] * columns
    for moment, bytes_in, bytes_out in samples:
        column = int((moment - start).total_seconds()) // SLOT_SECONDS * columns // slot_count
        if 0 <= column < columns:
            top_in[column] = max(top_in[column], bytes_in)
            top_out[column] = max(top_out[column], bytes_out)
    shown = min(columns, math.ceil((until - start).total_seconds() / SLOT_SECONDS * columns / slot_count))
    return columns, top_in[:shown], top_out[:shown]


def _points(values: list[float], columns: int, top_value: float) -> str:
    return " ".join(
        f"{round(LEFT + (i + 0.5) * PLOT_WIDTH / columns, 2)},{y_of(v, top_value)}" for i, v in enumerate(values)
    )


def rate_graph(
    samples,
    start: dt.datetime,
    end: dt.datetime,
    until: dt.datetime,
    *,
    p95_mbps: Decimal | None,
    commit_mbps: Decimal | None,
    title: str,
) -> Graph:
    columns, top_in, top_out = _columns(samples, start, end, until)
    to_mbps = 8 / SLOT_SECONDS / BITS_PER_MBIT
    ins = [b * to_mbps for b in top_in]
    outs = [b * to_mbps for b in top_out]
    levels = []
    if p95_mbps is not None:
        levels.append(Level("p95", f"95th percentile {p95_mbps} Mbit/s", float(p95_mbps)))
    if commit_mbps is not None:
        levels.append(Level("commit", f"Commit {commit_mbps} Mbit/s", float(commit_mbps)))
    top_value = nice_ceiling(max([*ins, *outs, *(level.value for level in levels), 0.0]))
    peak_in, peak_out = max(ins, default=0), max(outs, default=0)
    graph = Graph(
        kind="rate",
        title=title,
        description=f"Inbound and outbound rate in Mbit/s, {_period(start, end)} (UTC). "
        f"Peak inbound {peak_in:.3f} Mbit/s, peak outbound {peak_out:.3f} Mbit/s"
        + (f"; 95th percentile {p95_mbps} Mbit/s" if p95_mbps is not None else "")
        + (f"; commit {commit_mbps} Mbit/s" if commit_mbps is not None else "")
        + ".",
        unit="Mbit/s",
        top_value=top_value,
        levels=levels,
    )
    graph.series = [
        {"css": "inbound", "label": "Inbound", "points": _points(ins, columns, top_value)},
        {"css": "outbound", "label": "Outbound", "points": _points(outs, columns, top_value)},
    ]
    _axes(graph, start, end)
    return graph


def transfer_graph(
    samples,
    start: dt.datetime,
    end: dt.datetime,
    until: dt.datetime,
    *,
    count_inbound: bool,
    allowance_gb: Decimal | None,
    title: str,
) -> Graph:
    slot_count = max(1, int((end - start).total_seconds()) // SLOT_SECONDS)
    columns = min(PLOT_WIDTH, slot_count)
    per_column = [0] * columns
    for moment, bytes_in, bytes_out in samples:
        column = int((moment - start).total_seconds()) // SLOT_SECONDS * columns // slot_count
        if 0 <= column < columns:
            per_column[column] += bytes_out + (bytes_in if count_inbound else 0)
    shown = min(columns, math.ceil((until - start).total_seconds() / SLOT_SECONDS * columns / slot_count))
    running, cumulative = 0, []
    for value in per_column[:shown]:
        running += value
        cumulative.append(running / BYTES_PER_GB)
    levels = (
        [Level("allowance", f"Allowance {allowance_gb} GB", float(allowance_gb))] if allowance_gb is not None else []
    )
    top_value = nice_ceiling(max([*cumulative, *(level.value for level in levels), 0.0]))
    graph = Graph(
        kind="transfer",
        title=title,
        description=f"Cumulative transfer in GB ({'inbound and outbound' if count_inbound else 'outbound'}), "
        f"{_period(start, end)} (UTC): "
        f"{(cumulative[-1] if cumulative else 0):.3f} GB"
        + (f" of the {allowance_gb} GB allowance" if allowance_gb is not None else "")
        + ".",
        unit="GB",
        top_value=top_value,
        levels=levels,
    )
    graph.series = [{"css": "transfer", "label": "Transferred", "points": _points(cumulative, columns, top_value)}]
    _axes(graph, start, end)
    return graph
