"""The load a worker reports counts its CPU share as well as its jobs (``worker/cpu.py``), and
``--workers`` takes a count or ``auto``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from livekit.protocol import agent as proto

from livekitex_cli.agent import load_agents
from livekitex_cli.errors import ValidationError
from livekitex_cli.worker import WorkerOptions
from livekitex_cli.worker.cpu import CpuMeter
from livekitex_cli.worker.worker import Worker
from livekitex_cli.worker.workers import worker_count
from tests.worker.test_metrics import sample

ROOT = Path(__file__).resolve().parents[2]


class Clocks:
    """Wall time and CPU time, moved by the test."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def meter(self) -> CpuMeter:
        return CpuMeter(clock=lambda: self.wall, cpu=lambda: self.cpu)

    def at(self, wall: float, cpu: float) -> Clocks:
        self.wall, self.cpu = wall, cpu
        return self


def test_cpu_share_over_a_sliding_window() -> None:
    clocks = Clocks()
    meter = clocks.meter()
    assert meter.share() == 0.0  # one sample: nothing measured yet
    clocks.at(2, 1)
    assert meter.share() == 0.5
    clocks.at(4, 3)
    assert meter.share() == 0.75  # 3 s of CPU in 4 s
    clocks.at(8, 7)
    assert meter.share() == 1.0  # the oldest sample left the 5 s window: 6 s in 6 s
    clocks.at(10, 12)
    assert meter.share() == 1.0  # more than a core (native threads): capped at one
    clocks.at(16, 12)
    assert meter.share() == 0.0  # idle for the whole window
    meter.reset()
    assert meter.share() == 0.0


def worker() -> Worker:
    agents = load_agents([str(ROOT / "agents/support-agent.yaml")])
    options = WorkerOptions(
        agent_name="support-agent", server_url="ws://127.0.0.1:9", api_key="k", api_secret="s"
    )
    return Worker(agents=agents, options={"support-agent": options}, version="test")


def test_reported_load_is_the_higher_of_jobs_and_cpu() -> None:
    clocks = Clocks()
    running = worker()
    running.cpu = clocks.meter()
    (slot,) = running.slots
    running.cpu.share()
    clocks.at(2, 1.2)
    assert slot.load == 0.0  # the warm-up's CPU does not count
    running.providers_loaded = True
    assert slot.load == pytest.approx(0.6)
    # the server hears it scaled to its target load (0.7: offers stop there)
    assert slot.status() == (proto.WS_AVAILABLE, pytest.approx(0.42), 0)
    text = running.metrics.exposition().decode()
    assert sample(text, 'lkx_worker_load{agent="support-agent"}') == pytest.approx(0.6)
    clocks.at(8, 7.2)  # a whole core over the last 6 s: counted up to 0.6, never full on CPU
    assert slot.status() == (proto.WS_AVAILABLE, pytest.approx(0.42), 0)
    slot.options = slot.options.model_copy(update={"load_threshold": 0.5})  # refuses on CPU
    assert slot.status() == (proto.WS_FULL, pytest.approx(0.42), 0)
    assert not running.slots[0].availability(request()).available


def request() -> proto.AvailabilityRequest:
    message = proto.AvailabilityRequest()
    message.job.id = "job-1"
    message.job.agent_name = "support-agent"
    return message


def test_worker_count(tmp_path: Path) -> None:
    assert worker_count("3") == 3
    unlimited = tmp_path / "cpu.max"
    unlimited.write_text("max 100000\n")
    assert worker_count("auto", cpu_max=unlimited) == len(os.sched_getaffinity(0))
    limited = tmp_path / "limited"
    limited.write_text("150000 100000\n")  # a container limited to 1.5 cores: 2 processes
    assert worker_count("AUTO", cpu_max=limited) == min(2, len(os.sched_getaffinity(0)))
    for bad in ("0", "-1", "many", ""):
        with pytest.raises(ValidationError, match="positive number or 'auto'"):
            worker_count(bad)
