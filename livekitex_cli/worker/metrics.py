"""The worker's Prometheus metrics, with the official ``prometheus_client``: counters only ever
go up and the latency histograms count every turn (the hand-written exposition before computed
them from a bounded window, so a counter could go down, which Prometheus must never see).

What the worker's state already holds (jobs running, load, registration) is read at scrape time
by a collector; what happens (jobs ending, turns) is counted as it happens."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from livekitex_cli.worker.worker import Worker

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STAGES = (
    "vad_end_of_speech_delay_ms",
    "stt_duration_ms",
    "llm_ttft_ms",
    "tts_ttfb_ms",
    "response_time_ms",
)
# per-turn figures counted over the worker's life: (turn metric, metric name, help)
TURN_EVENTS = (
    ("empty_completions", "empty_completions", "LLM completions with no text and no tool call."),
    ("stalled", "stalled_replies", "Replies ended by the stall watchdog."),
    ("resumed", "false_interruptions", "Replies resumed after a false interruption."),
)
OUTCOMES = ("success", "failed", "terminated")
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class WorkerMetrics:
    def __init__(self, worker: Worker) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "lkx_jobs", "Jobs ended, by outcome.", ["outcome"], registry=self.registry
        )
        for outcome in OUTCOMES:
            self.jobs.labels(outcome)
        self.turn_events = {
            key: Counter(f"lkx_{name}", text, registry=self.registry)
            for key, name, text in TURN_EVENTS
        }
        self.stage_latency = Histogram(
            "lkx_stage_latency_ms",
            "Per-stage latency of session turns.",
            ["stage"],
            buckets=BUCKETS_MS,
            registry=self.registry,
        )
        for stage in STAGES:
            self.stage_latency.labels(stage)
        self.handoffs = Counter(
            "lkx_handoffs", "Agent handoffs in sessions.", ["from_agent", "to_agent"],
            registry=self.registry,
        )  # fmt: skip
        self.registry.register(_WorkerState(worker))
        self._loop_metrics([slot.agent.name for slot in worker.slots])

    def _loop_metrics(self, agents: list[str]) -> None:
        """The event loop watch's figures (``blocking.py``)."""
        self.loop_lag = Histogram(
            "lkx_event_loop_lag_seconds", "How late the event loop answered the watch's pings.",
            buckets=LAG_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.loop_blocked = Counter(
            "lkx_event_loop_blocked", "Episodes of a blocked event loop, by agent.", ["agent"],
            registry=self.registry,
        )  # fmt: skip
        self.loop_blocked_seconds = Histogram(
            "lkx_event_loop_blocked_seconds", "How long each blocked episode lasted, by agent.",
            ["agent"], buckets=LAG_BUCKETS, registry=self.registry,
        )  # fmt: skip
        for agent in agents:
            self.loop_blocked.labels(agent)
            self.loop_blocked_seconds.labels(agent)

    def loop_episode(self, agent: str, seconds: float) -> None:
        self.loop_blocked.labels(agent).inc()
        self.loop_blocked_seconds.labels(agent).observe(seconds)

    def handoff(self, from_agent: str, to_agent: str) -> None:
        self.handoffs.labels(from_agent, to_agent).inc()

    def job_ended(self, outcome: str) -> None:
        self.jobs.labels(outcome).inc()

    def turn(self, metrics: Mapping[str, Any]) -> None:
        for stage in STAGES:
            value = metrics.get(stage)
            if isinstance(value, int | float):
                self.stage_latency.labels(stage).observe(float(value))
        for key, counter in self.turn_events.items():
            value = metrics.get(key)
            if isinstance(value, int | float) and value > 0:  # bools count as one
                counter.inc(float(value))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _WorkerState(Collector):
    """Read at scrape time from the worker itself."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        worker = self.worker
        running = GaugeMetricFamily("lkx_jobs_running", "Jobs running now.", labels=["agent"])
        load = GaugeMetricFamily(
            "lkx_worker_load", "Load reported to the server (0..1).", labels=["agent"]
        )
        for slot in worker.slots:
            running.add_metric([slot.agent.name], slot.active)
            load.add_metric([slot.agent.name], slot.load)
        yield running
        yield load
        yield GaugeMetricFamily(
            "lkx_worker_registered", "Every agent is registered.", value=int(worker.registered)
        )
        yield GaugeMetricFamily(
            "lkx_worker_draining", "The worker is draining.", value=int(worker.draining)
        )
        # a job's totals move from its live session to the worker's when it ends: the sum only
        # ever grows
        snapshots = [
            job.session.metrics() for job in worker.active_jobs() if job.session is not None
        ]
        tools = sum(s["tool_calls_executed"] for s in snapshots) + worker.tool_calls_done
        errors = sum(s["errors"] for s in snapshots) + worker.errors_done
        yield CounterMetricFamily("lkx_tool_calls", "Tool calls run by sessions.", value=tools)
        yield CounterMetricFamily(
            "lkx_session_errors", "Provider failures reported by sessions.", value=errors
        )
