"""How the benchmarks report repeated measurements: the median, with the spread."""

from __future__ import annotations

import statistics


def spread(values: list[float], fmt: str = "{:,.0f}", unit: str = "") -> str:
    """``median 12 ms (min 10, max 15)``: what a target is judged on, and how far the repeats went."""
    f = fmt.format
    return f"median {f(statistics.median(values))}{unit} (min {f(min(values))}, max {f(max(values))})"
