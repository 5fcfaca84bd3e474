"""The process's recent CPU share, one half of the load a worker reports to LiveKit.

``share()`` is the CPU time this process used (every thread: the event loop and livekit's
native ones) over the last ``window`` seconds of wall time, as a fraction of one core, capped
at 1. One process runs one event loop: at 1.0 it is saturated whatever its job count says, and
every conversation in it would slow down with one more. Samples are taken when asked (the
status loop asks every 2.5 s), at most every ``min_step`` seconds; until ``min_span`` seconds
of samples exist the share is 0."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 5.0


class CpuMeter:
    def __init__(
        self,
        *,
        window: float = WINDOW,
        min_step: float = 0.5,
        min_span: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self.window, self.min_step, self.min_span = window, min_step, min_span
        self._clock, self._cpu = clock, cpu
        self._samples: deque[tuple[float, float]] = deque()
        self._share = 0.0

    def reset(self) -> None:
        """Forget what was measured so far (e.g. a warm-up's burst)."""
        self._samples.clear()
        self._share = 0.0

    def share(self) -> float:
        now = self._clock()
        samples = self._samples
        if not samples or now - samples[-1][0] >= self.min_step:
            samples.append((now, self._cpu()))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        (start, cpu_start), (end, cpu_end) = samples[0], samples[-1]
        if end - start >= self.min_span:
            self._share = min(1.0, max(0.0, (cpu_end - cpu_start) / (end - start)))
        return self._share
