"""The health endpoints of ``lkx start --workers N``, answered by the supervisor for all its
processes (one port to probe and scrape):

- ``/live``: the supervisor runs;
- ``/health``: every process is registered;
- ``/ready``: every process is registered and has loaded its models, and nothing drains;
- ``/worker``: each process's own ``/worker`` (as last read), its pid and restarts;
- ``/metrics``: the processes' metrics summed by prometheus_client's multiprocess mode (each
  gauge combines as its ``multiprocess_mode`` says: jobs running add up, load is the highest),
  jobs lost with a dead process counted as failed, and the supervisor's own figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from livekitex_cli.worker.supervisor import CRASH_LOOP

if TYPE_CHECKING:
    from livekitex_cli.worker.supervisor import Process, Supervisor


class SupervisorHealth:
    """A ``HealthSource`` over every process of a supervisor."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.registry = CollectorRegistry()
        self.registry.register(_Processes(supervisor))

    def healthy(self) -> bool:
        return all(process.registered for process in self.supervisor.processes)

    def readiness(self) -> dict[str, Any]:
        processes = self.supervisor.processes
        draining = self.supervisor.draining
        agents = [agent for p in processes for agent in (p.state or {}).get("agents", [])]
        return {
            "ready": all(p.ready for p in processes) and not draining,
            "registered": all(p.registered for p in processes),
            "providers_loaded": all((p.state or {}).get("providers_loaded") for p in processes),
            "draining": draining,
            "active_jobs": sum(1 for p in processes for _ in p.live_jobs()),
            "max_jobs": sum(_capacity(p) for p in processes),
            "load": max((float(agent.get("load", 0.0)) for agent in agents), default=0.0),
            "processes": len(processes),
            "processes_ready": sum(1 for p in processes if p.ready),
        }

    def state(self) -> dict[str, Any]:
        supervisor = self.supervisor
        return {
            "registered": self.healthy(),
            "draining": supervisor.draining,
            "jobs_lost": supervisor.lost_jobs,
            "processes": [
                {
                    "index": p.index,
                    "pid": p.child.pid if p.child is not None else None,
                    "alive": p.alive,
                    "ready": p.ready,
                    "restarts": p.restarts,
                    "crash_loop": p.quick_deaths >= CRASH_LOOP,
                    "worker": p.state if p.alive else None,
                }
                for p in supervisor.processes
            ],
        }

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _capacity(process: Process) -> int:
    """The jobs a process takes at most: as its own ``/ready`` counts them."""
    state = process.state or {}
    own = sum(int(agent.get("max_concurrent_jobs", 0)) for agent in state.get("agents", []))
    return min(int(state.get("max_jobs") or 1_000_000), own)


class _Processes(Collector):
    """The processes' files, plus what only the supervisor knows."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        supervisor = self.supervisor
        files = MultiProcessCollector(None, path=supervisor.metrics_dir)  # type: ignore[no-untyped-call]
        for metric in files.collect():  # type: ignore[no-untyped-call]
            if metric.name == "lkx_jobs" and supervisor.lost_jobs:
                metric.samples = [
                    sample._replace(value=sample.value + supervisor.lost_jobs)
                    if sample.labels.get("outcome") == "failed"
                    else sample
                    for sample in metric.samples
                ]
            yield metric
        yield GaugeMetricFamily(
            "lkx_worker_processes",
            "Worker processes running under the supervisor.",
            value=sum(1 for p in supervisor.processes if p.alive),
        )
        yield CounterMetricFamily(
            "lkx_worker_process_restarts",
            "Worker processes started again after dying.",
            value=supervisor.restarts,
        )
