"""Per-round progress: a live single line on a terminal, plain log lines elsewhere (files, CI, Ray logs).

The text comes from :func:`format_progress`, a pure function, so it is tested without a terminal.

Example:
    >>> format_progress(3, 10, tasks_per_s=4.25, val_acc=0.612, eta_s=95)
    'round 3/10 | 4.25 tasks/s | val acc 61.2% | ETA 1m35s'
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import TextIO

log = logging.getLogger(__name__)


def format_duration(seconds: float | None) -> str:
    """Compact duration: ``42s``, ``3m05s``, ``2h07m``; ``?`` when unknown.

    Example:
        >>> format_duration(185), format_duration(7620), format_duration(None)
        ('3m05s', '2h07m', '?')
    """
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_progress(done: int, total: int, *, tasks_per_s: float | None = None, val_acc: float | None = None,
                    eta_s: float | None = None, extra: Mapping[str, float] | None = None) -> str:
    """One progress line; ``val_acc`` is a fraction in [0, 1]; missing values are left out.

    Example:
        >>> format_progress(1, 5, extra={"loss": 1.23456})
        'round 1/5 | loss 1.235'
    """
    parts = [f"round {done}/{total}"]
    if tasks_per_s is not None:
        parts.append(f"{tasks_per_s:.2f} tasks/s")
    if val_acc is not None:
        parts.append(f"val acc {100 * val_acc:.1f}%")
    for key, value in (extra or {}).items():
        parts.append(f"{key} {value:.4g}")
    if eta_s is not None:
        parts.append(f"ETA {format_duration(eta_s)}")
    return " | ".join(parts)


def estimate_eta(elapsed_s: float, rounds_done_here: int, rounds_left: int) -> float | None:
    """Remaining seconds from the mean round time of this session (None before the first round).

    Example:
        >>> estimate_eta(20.0, 2, 3)
        30.0
    """
    if rounds_done_here <= 0:
        return None
    return elapsed_s / rounds_done_here * rounds_left


class ProgressReporter:
    """Reports each finished round: rewrites one line on a TTY, logs a line otherwise.

    ``start`` is the number of rounds already done (a resume), so the ETA uses only rounds timed here;
    ``budget_s`` (seconds from now that the run will not go past, e.g. ``meta.budget_minutes``) caps it.

    Example:
        >>> import io
        >>> p = ProgressReporter(total=2, stream=io.StringIO(), tty=False)
        >>> p.update(1, tasks_per_s=2.0, val_acc=0.5)  # doctest: +ELLIPSIS
        'round 1/2 | 2.00 tasks/s | val acc 50.0% | ETA ...'
        >>> p.close()
    """

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None, tty: bool | None = None,
                 budget_s: float | None = None) -> None:
        self.total = total
        self.start = start
        self.budget_s = budget_s
        self.stream = stream if stream is not None else sys.stderr
        self.tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = time.monotonic()
        self._live = False

    def update(self, done: int, *, tasks_per_s: float | None = None, val_acc: float | None = None,
               extra: Mapping[str, float] | None = None) -> str:
        """Report that ``done`` rounds (of ``total``) are complete; returns the line shown.

        Example:
            >>> import io
            >>> ProgressReporter(3, stream=io.StringIO(), tty=False).update(3).startswith("round 3/3")
            True
        """
        elapsed = time.monotonic() - self._t0
        eta = estimate_eta(elapsed, done - self.start, self.total - done)
        if eta is not None and self.budget_s is not None:
            eta = min(eta, max(0.0, self.budget_s - elapsed))
        line = format_progress(done, self.total, tasks_per_s=tasks_per_s, val_acc=val_acc, eta_s=eta, extra=extra)
        if self.tty:
            # \r + erase-to-end-of-line rewrites the same line, whatever the previous length was.
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
            self._live = True
        else:
            log.info("%s", line)
        return line

    def close(self) -> None:
        """End the live line so later output starts on a fresh line.

        Example:
            >>> ProgressReporter(1, tty=False).close()
        """
        if self._live:
            self.stream.write("\n")
            self.stream.flush()
            self._live = False
