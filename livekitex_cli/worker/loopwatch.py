"""``LoopWatch``: sees the event loop blocked. A thread pings the loop (``call_soon_threadsafe``)
and measures how late the answer comes; when no answer has come within ``threshold`` seconds,
the loop is blocked: the thread samples the loop thread's stack (``sys._current_frames``) and
the task it runs, once per episode, while the loop is still stuck in it.

What the loop was doing is reported from the watch thread (``on_blocked``: the loop cannot
report anything itself while it is blocked); the end of the episode is handed to the loop
(``on_unblocked``), where acting on it is safe."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekitex_cli.log import get_logger

log = get_logger("worker")
PING_INTERVAL = 0.1  # s between two answered pings
STACK_FRAMES = 25  # the innermost frames of a blocked loop's stack


@dataclass
class Blocked:
    """One episode: the loop did not answer a ping for longer than the threshold."""

    since: float  # time.monotonic() of the unanswered ping
    stack: str  # the loop thread's stack, innermost frame last
    task: asyncio.Task[Any] | None  # the task the loop was running, if any
    seconds: float = 0.0  # how long the episode lasted (set when it ends)


class LoopWatch:
    """Start it from the loop it watches; ``aclose()`` ends the thread (idempotent)."""

    def __init__(
        self,
        *,
        threshold: float,
        on_blocked: Callable[[Blocked], None],
        on_unblocked: Callable[[Blocked], None],
        on_lag: Callable[[float], None] | None = None,
        interval: float = PING_INTERVAL,
    ) -> None:
        self.threshold = threshold
        self.on_blocked = on_blocked  # called in the watch thread, while blocked
        self.on_unblocked = on_unblocked  # called on the loop, once it answers again
        self.on_lag = on_lag  # called in the watch thread with every ping's delay
        self.interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, name="lkx-loop-watch", daemon=True)
        self._thread.start()

    async def aclose(self) -> None:
        """Stop the thread and wait for it, off the loop (a loop waiting in ``join`` would be
        a blocked loop to the watch)."""
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, self.threshold + self.interval + 1.0)

    def _watch(self) -> None:
        assert self._loop is not None
        loop = self._loop
        while not self._stopped.is_set():
            answered = threading.Event()
            sent = time.monotonic()
            try:
                loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed
                return
            if not answered.wait(self.threshold):
                if self._stopped.is_set():
                    return  # stopped (the loop may be gone): not a blocked loop
                episode = self._sample(sent)
                self._report(self.on_blocked, episode)
                while not answered.wait(self.interval):
                    if self._stopped.is_set():
                        return
                episode.seconds = time.monotonic() - sent
                try:
                    loop.call_soon_threadsafe(self.on_unblocked, episode)
                except RuntimeError:
                    return
            if self.on_lag is not None:
                self._report(self.on_lag, time.monotonic() - sent)
            self._stopped.wait(self.interval)

    def _sample(self, since: float) -> Blocked:
        frame = sys._current_frames().get(self._loop_thread)
        stack = "".join(traceback.format_stack(frame, limit=STACK_FRAMES)) if frame else ""
        try:
            task = asyncio.current_task(self._loop)
        except RuntimeError:
            task = None
        return Blocked(since=since, stack=stack, task=task)

    @staticmethod
    def _report(callback: Callable[[Any], None], value: Any) -> None:
        try:
            callback(value)
        except Exception:  # noqa: BLE001 - the watch must go on
            log.exception("loop watch callback failed")
