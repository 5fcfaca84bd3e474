"""What the event loop watch (``livekitex_cli/worker/loopwatch.py``) costs and how fast it sees
a blocked loop. Prints medians; asserts nothing.

    python -m bench.loop_watch
"""

from __future__ import annotations

import asyncio
import statistics
import time

from livekitex_cli.worker.loopwatch import Blocked, LoopWatch

STEPS = 100_000  # loop iterations per throughput run
RUNS = 7
THRESHOLD = 0.5


def _watch(on_blocked: object = None) -> LoopWatch:
    def blocked(episode: Blocked) -> None:
        if callable(on_blocked):
            on_blocked(episode)

    return LoopWatch(threshold=THRESHOLD, on_blocked=blocked, on_unblocked=lambda _: None)


async def _spin() -> float:
    started = time.perf_counter()
    for _ in range(STEPS):
        await asyncio.sleep(0)
    return time.perf_counter() - started


async def throughput(watched: bool) -> float:
    """Seconds for ``STEPS`` turns of the loop."""
    watch = _watch()
    if watched:
        watch.start()
    try:
        return await _spin()
    finally:
        await watch.aclose()


async def idle_cpu(watched: bool, seconds: float = 3.0) -> float:
    """Process CPU seconds per wall second while the loop idles."""
    watch = _watch()
    if watched:
        watch.start()
    cpu = time.process_time()
    await asyncio.sleep(seconds)
    used = time.process_time() - cpu
    await watch.aclose()
    return used / seconds


async def detection(block: float = 1.0) -> float:
    """Seconds from the start of a blocking call to the watch's report of it."""
    seen: list[float] = []
    watch = _watch(lambda _: seen.append(time.monotonic()))
    watch.start()
    await asyncio.sleep(0.3)
    started = time.monotonic()
    time.sleep(block)  # the blocking call being measured
    await asyncio.sleep(0.3)
    await watch.aclose()
    return seen[0] - started


async def main() -> None:
    plain: list[float] = []
    watched: list[float] = []
    for _ in range(RUNS):  # interleaved: a busy machine's drift hits both alike
        plain.append(await throughput(False))
        watched.append(await throughput(True))
    ratio = statistics.median(watched) / statistics.median(plain)
    print(f"loop turns x{STEPS}: {statistics.median(plain) * 1000:.0f} ms unwatched, "
          f"{statistics.median(watched) * 1000:.0f} ms watched (ratio {ratio:.3f}, median of {RUNS})")  # fmt: skip
    cpu = [await idle_cpu(True) for _ in range(3)]
    base = [await idle_cpu(False) for _ in range(3)]
    print(f"idle CPU: {statistics.median(base) * 100:.2f} % unwatched, "
          f"{statistics.median(cpu) * 100:.2f} % watched (median of 3 x 3 s)")  # fmt: skip
    delays = [await detection() for _ in range(5)]
    print(f"a 1 s blocking call is reported {statistics.median(delays):.3f} s after it starts "
          f"(threshold {THRESHOLD} s, median of 5)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
