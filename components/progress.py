"""How far a long stage has got, for the person running the pipeline.

Training loops report through `ProgressReporter` (the `mbert.progress` logger). `mbert run`
shows those records as one line per stage (pipeline/local_runner.py); anywhere else they are
ordinary INFO log records. Per-batch progress bars (Keras `verbose=1`, tqdm) are for a person
watching a terminal who asked for them (`mbert run --verbose`): `per_batch_bars()` says when.
"""

from __future__ import annotations

import logging
import sys
import time

LOGGER_NAME = "mbert.progress"
_LOG = logging.getLogger(LOGGER_NAME)
_bars_requested = False


def request_per_batch_bars(requested: bool) -> None:
    """Called by the runner with its --verbose flag."""
    global _bars_requested
    _bars_requested = requested


def per_batch_bars() -> bool:
    """Whether loops may draw per-batch bars: asked for, and stdout is a terminal (a bar in a
    log file is a screen of escape codes)."""
    return _bars_requested and sys.stdout.isatty()


class ProgressReporter:
    """Logs `step s/total, loss x, t s left` for one stage, every `total / updates` steps.

    Each record carries the line in `record.progress` so a handler can tell it from others.
    """

    def __init__(self, stage: str, total: int, start_step: int = 0, updates: int = 50):
        self.stage = stage
        self.total = total
        self._start_step = start_step
        self._every = max(1, total // updates)
        self._started = time.monotonic()

    def update(self, step: int, loss: float | None = None) -> None:
        """Reports `step` (steps done so far) if it is an update step or the last one."""
        if step % self._every and step != self.total:
            return
        done = step - self._start_step
        parts = [f"step {step}/{self.total}"]
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        if 0 < done and step < self.total:
            seconds_left = (time.monotonic() - self._started) / done * (self.total - step)
            parts.append(f"{seconds_left:.0f} s left")
        line = ", ".join(parts)
        _LOG.info("%s: %s", self.stage, line, extra={"progress": line})
