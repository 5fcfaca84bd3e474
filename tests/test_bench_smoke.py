"""The benchmark harness at tiny sizes, so it cannot rot (numbers are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.livekit_server import needs_server

ROOT = Path(__file__).resolve().parents[1]


@needs_server
@pytest.mark.slow
def test_bench_quick_runs_and_writes_results(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env_path = str(Path.home() / ".cache/lkx/bin")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**__import__("os").environ, "PATH": f"{env_path}:{__import__('os').environ['PATH']}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    lkx = results["lkx"]
    assert {
        "cold_start_s",
        "pss_mb",
        "chat_first_text_ms",
        "turn_overhead_ms",
        "audio",
        "reload",
        "cli",
    } <= set(lkx)
    assert lkx["audio"]["checks"] and lkx["audio"]["sessions_per_core_by_cpu"] >= 1
    assert "lkx vs livekit-agents" in done.stdout
