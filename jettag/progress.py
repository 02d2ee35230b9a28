"""Progress lines for long-running stages: counts so far and the rate, at most every few seconds."""

from __future__ import annotations

import logging
import time

__all__ = ["Progress"]


class Progress:
    """Log ``done/total <unit>`` (``done <unit>`` when the total is unknown, 0) and the rate every
    ``interval`` seconds, and once at the end."""

    def __init__(self, logger: logging.Logger, label: str, total: int, unit: str, interval: float = 5.0):
        self.logger, self.label, self.total, self.unit, self.interval = logger, label, total, unit, interval
        self.start = time.perf_counter()
        self._last = self.start

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, done: int, extra: str = "", final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        rate = done / max(now - self.start, 1e-9)
        pct = 100.0 * done / self.total if self.total else 100.0
        tail = f", {extra}" if extra else ""
        self.logger.info(
            "%s: %d/%d %s (%.0f%%), %.1f %s/s%s",
            self.label,
            done,
            self.total,
            self.unit,
            pct,
            rate,
            self.unit,
            tail,
        )
