"""The worker's Prometheus metrics, with the official ``prometheus_client``: counters only ever
go up and the latency histograms count every turn (the hand-written exposition before computed
them from a bounded window, so a counter could go down, which Prometheus must never see).

What happens (jobs ending, turns) is counted as it happens; what the worker's state holds (jobs
running, load, registration, a live session's tool calls) is copied into gauges and counters by
``refresh``, at each scrape. Under ``lkx start --workers N`` every process writes its values to
files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode) and the supervisor
serves their sum; a worker process there refreshes every ``REFRESH_INTERVAL`` seconds, since no
scrape reaches it. Each gauge says how processes combine (``multiprocess_mode``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from livekitex_cli.worker.joining import join_gate

if TYPE_CHECKING:
    from livekitex_cli.worker.worker import Worker

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
REFRESH_INTERVAL = 0.5

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
    ("pauses_held", "lkx_turn_pauses_held", "Pauses the end-of-turn signal judged unfinished."),
)
OUTCOMES = ("success", "failed", "terminated")
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess() -> bool:
    """Does this process write its metrics for a supervisor (``--workers N``)?"""
    return bool(os.environ.get(MULTIPROC_DIR))


class WorkerMetrics:
    def __init__(self, worker: Worker) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        self.worker = worker
        self.registry = registry = CollectorRegistry()
        self.jobs = Counter("lkx_jobs", "Jobs ended, by outcome.", ["outcome"], registry=registry)
        for outcome in OUTCOMES:
            self.jobs.labels(outcome)
        self.turn_events = {
            key: Counter(f"lkx_{name}", text, registry=registry) for key, name, text in TURN_EVENTS
        }
        self.stage_latency = Histogram(
            "lkx_stage_latency_ms",
            "Per-stage latency of session turns.",
            ["stage"],
            buckets=BUCKETS_MS,
            registry=registry,
        )
        for stage in STAGES:
            self.stage_latency.labels(stage)
        self.handoffs = Counter(
            "lkx_handoffs", "Agent handoffs in sessions.", ["from_agent", "to_agent"],
            registry=registry,
        )  # fmt: skip
        self.recalls = Counter(
            "lkx_agent_recalls", "Agents that dropped out of a room and were dispatched again.",
            ["agent"], registry=registry,
        )  # fmt: skip
        # read from the worker's state by ``refresh``
        self.running = Gauge(
            "lkx_jobs_running", "Jobs running now.", ["agent"],
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.load = Gauge(
            "lkx_worker_load", "Load, 0..1 (1: every place taken; the server hears 0.7x).",
            ["agent"],
            registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self.registered = Gauge(
            "lkx_worker_registered", "Every agent is registered.",
            registry=registry, multiprocess_mode="livemin",
        )  # fmt: skip
        self.draining = Gauge(
            "lkx_worker_draining", "The worker is draining.",
            registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self.joins = Gauge(
            "lkx_room_joins", "Room joins connecting now, and waiting for a place to connect.",
            ["state"], registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        for state in ("connecting", "waiting"):
            self.joins.labels(state)
        self.session_totals = {
            key: Counter(name, text, registry=registry) for key, name, text in SESSION_TOTALS
        }
        self._counted = dict.fromkeys(self.session_totals, 0.0)
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

    def refresh(self) -> None:
        """Copy the worker's state into the gauges, and the sessions' totals into the counters."""
        worker = self.worker
        for slot in worker.slots:
            self.running.labels(slot.agent.name).set(slot.active)
            self.load.labels(slot.agent.name).set(slot.load)
        self.registered.set(int(worker.registered))
        self.draining.set(int(worker.draining))
        if worker.loop is not None:
            gate = join_gate(worker.loop)
            self.joins.labels("connecting").set(gate.connecting)
            self.joins.labels("waiting").set(gate.waiting)
        # a job's totals move from its live session to the worker's when it ends: the sum only
        # ever grows, so the counters move by the difference
        snapshots = [
            job.session.metrics() for job in worker.active_jobs() if job.session is not None
        ]
        for key, counter in self.session_totals.items():
            total = sum(s[key] for s in snapshots) + worker.session_totals[key]
            if total > self._counted[key]:
                counter.inc(total - self._counted[key])
                self._counted[key] = total

    def exposition(self) -> bytes:
        self.refresh()
        return generate_latest(self.registry)
