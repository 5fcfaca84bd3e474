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
# session totals (field of ``AgentSession.metrics()``, metric name, help): a job's totals move
# from its live session to the worker's when it ends, so the sum only ever grows
SESSION_TOTALS = (
    ("tool_calls_executed", "lkx_tool_calls", "Tool calls run by sessions."),
    ("errors", "lkx_session_errors", "Provider failures reported by sessions."),
    ("chat_dropped", "lkx_chat_messages_dropped", "Typed messages dropped in floods."),
    ("chat_truncated", "lkx_chat_messages_truncated", "Typed messages cut short."),
)
OUTCOMES = ("success", "failed", "terminated")
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
        snapshots = [
            job.session.metrics() for job in worker.active_jobs() if job.session is not None
        ]
        for key, name, text in SESSION_TOTALS:
            total = sum(s[key] for s in snapshots) + worker.session_totals[key]
            yield CounterMetricFamily(name, text, value=total)
