"""A coroutine run on a thread and event loop of its own, for work that must not wait for a busy
main loop: the agent-worker protocol answers the server from there (see ``protocol.py``).

Fifty rooms in one process keep the main loop busy; a job start that blocks it (a model loaded
on the loop, a slow import) holds it for seconds. A loop of one's own is never behind them:
only the interpreter's lock is shared, and a CPU-bound thread hands it over every few
milliseconds (``sys.getswitchinterval``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Runner:
    def __init__(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.make = make
        self.main = asyncio.get_running_loop()
        self.outcome: asyncio.Future[Any] = self.main.create_future()
        self._lock = threading.Lock()
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False

    def thread_main(self) -> None:
        try:
            value = asyncio.run(self._body())
        except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the caller
            self._report(exc, None)
        else:
            self._report(None, value)

    async def _body(self) -> Any:
        with self._lock:
            if self._cancelled:
                raise asyncio.CancelledError
            self._task = asyncio.current_task()
        return await self.make()

    def cancel(self) -> None:
        """Cancel the coroutine on its own loop (before it starts: it never does)."""
        with self._lock:
            self._cancelled = True
            task = self._task
        if task is not None:
            with contextlib.suppress(RuntimeError):  # its loop has just closed: it has ended
                task.get_loop().call_soon_threadsafe(task.cancel)

    def _report(self, exc: BaseException | None, value: Any) -> None:
        def settle() -> None:
            if self.outcome.done():
                return
            if isinstance(exc, asyncio.CancelledError):
                self.outcome.cancel()
            elif exc is not None:
                self.outcome.set_exception(exc)
            else:
                self.outcome.set_result(value)

        with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody to tell
            self.main.call_soon_threadsafe(settle)


async def run_in_thread(make: Callable[[], Coroutine[Any, Any, T]], *, name: str) -> T:
    """Run ``make()`` on a new thread with its own event loop; return or raise what it does.
    Cancelling the caller cancels it there and waits until it has ended."""
    runner = _Runner(make)
    threading.Thread(target=runner.thread_main, name=name, daemon=True).start()
    try:
        result: T = await asyncio.shield(runner.outcome)
    except asyncio.CancelledError:
        if runner.outcome.done():
            raise  # it ended cancelled on its own loop
        runner.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(runner.outcome)  # until its cleanup (sockets closed) is done
        raise
    return result
