"""Answers that take the same time whoever is asked about.

A form anyone may post with someone's email address (a password reset, a privacy request,
an agent's request) must not tell the visitor whether that address has an account. The
answer is already the same; its *timing* is made the same too: the view's POST is padded
to a fixed floor, well above what either path costs, so a known address (a look-up, a
row, an email stored) and an unknown one (nothing to do) take the same wall time, with a
broker or without one (tasks in-process run inside the request). The forms are rate
limited per address, so the seconds spent waiting cost the server little.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

# Both paths of every padded form take well under this on the slowest machine we run on
# (tens of milliseconds); an answer slower than it is logged, since it would leak again.
# PORTAL_UNIFORM_TIMING_FLOOR overrides it (the test suite sets 0 but where it checks it).
DEFAULT_FLOOR = 0.6


def uniform_post_timing(floor: float | None = None) -> Callable:
    """Decorate a view so that its POST answers take at least ``floor`` seconds
    (by default ``settings.PORTAL_UNIFORM_TIMING_FLOOR``, else ``DEFAULT_FLOOR``)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def padded(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            minimum = floor if floor is not None else getattr(settings, "PORTAL_UNIFORM_TIMING_FLOOR", DEFAULT_FLOOR)
            started = time.monotonic()
            response = view(request, *args, **kwargs)
            elapsed = time.monotonic() - started
            if elapsed < minimum:
                time.sleep(minimum - elapsed)
            elif minimum:
                logger.warning("%s took %.3fs, over its timing floor of %.3fs", request.path, elapsed, minimum)
            return response

        return padded

    return decorate
