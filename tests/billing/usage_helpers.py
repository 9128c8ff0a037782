"""Helpers for the usage tests: samples written straight to the table, month spans."""

from __future__ import annotations

import datetime as dt

from billing.usage.models import UsageSample


def slot(month: dt.date, index: int) -> dt.datetime:
    """The start of the ``index``-th 5-minute interval of ``month`` (UTC)."""
    return dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=5 * index)


def store(service, month: dt.date, values_in, values_out=None, *, first: int = 0) -> None:
    """Samples of ``service`` from the ``first``-th interval of ``month`` on."""
    values_out = values_in if values_out is None else values_out
    UsageSample.objects.bulk_create(
        [
            UsageSample(service=service, interval_start=slot(month, first + i), bytes_in=a, bytes_out=b)
            for i, (a, b) in enumerate(zip(values_in, values_out, strict=True))
        ],
        batch_size=2000,
    )
