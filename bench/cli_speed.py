"""Wall time of ``lkx --help`` and ``lkx tools list`` (fresh processes)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from bench.common import stats


def wall(args: list[str], repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "livekitex_cli", *args],
            capture_output=True,
            check=False,
            timeout=60,
        )
        times.append((time.perf_counter() - started) * 1000)
    return stats(times)


def run(repeats: int = 10) -> dict[str, Any]:
    return {"help_ms": wall(["--help"], repeats), "tools_list_ms": wall(["tools", "list"], repeats)}
