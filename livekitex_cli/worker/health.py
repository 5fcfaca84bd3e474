"""The worker's HTTP endpoints: health, readiness, state as JSON, and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from livekitex_cli.errors import ResourceError

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


class HealthServer:
    def __init__(self, worker: Worker, *, host: str, port: int) -> None:
        self.worker = worker
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._health)
        app.router.add_get("/health", self._health)
        app.router.add_get("/live", self._live)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/worker", self._state)
        app.router.add_get("/metrics", self._metrics)

    async def start(self) -> int:
        app = web.Application()
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self.aclose()
            reason = (
                f"health port {self.host}:{self.port} cannot be used ({exc.strerror or exc}): "
                "choose another with --health-port or worker.health_check_port (0 = any free port)"
            )
            raise ResourceError("port", reason) from None
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _live(self, _: web.Request) -> web.Response:
        """Liveness: the process and its event loop answer (a server outage is not a reason
        to restart a worker: it reconnects by itself; ``/ready`` says whether to send jobs)."""
        return web.Response(text="OK")

    async def _health(self, _: web.Request) -> web.Response:
        ok = self.worker.registered
        return web.Response(text="OK" if ok else "not registered", status=200 if ok else 503)

    async def _ready(self, _: web.Request) -> web.Response:
        worker = self.worker
        slots = worker.slots
        data = {
            "ready": worker.registered and worker.providers_loaded and not worker.draining,
            "registered": worker.registered,
            "providers_loaded": worker.providers_loaded,
            "draining": worker.draining,
            "active_jobs": sum(slot.active for slot in slots),
            "max_jobs": min(
                worker.max_jobs or 1_000_000,
                sum(slot.options.max_concurrent_jobs for slot in slots),
            ),
            "load": max((slot.load for slot in slots), default=0.0),
        }
        return web.json_response(data, status=200 if data["ready"] else 503)

    async def _state(self, _: web.Request) -> web.Response:
        return web.json_response(self.state())

    def state(self) -> dict[str, Any]:
        worker = self.worker
        return {
            "version": worker.version,
            "registered": worker.registered,
            "draining": worker.draining,
            "max_jobs": worker.max_jobs,
            "agents": [
                {
                    "name": slot.agent.name,
                    "worker_id": slot.connection.worker_id,
                    "registered": slot.connection.registered.is_set(),
                    "max_concurrent_jobs": slot.options.max_concurrent_jobs,
                    "load": slot.load,
                    "full": slot.full,
                    "jobs": [job.to_dict() for job in slot.jobs.values()],
                }
                for slot in worker.slots
            ],
            "jobs_total": dict(worker.outcomes),
            "rejected": dict(worker.rejected),
        }

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(text=self.prometheus(), content_type="text/plain", charset="utf-8")

    def prometheus(self) -> str:
        worker = self.worker
        lines = [
            "# HELP lkx_jobs_running Jobs running now.",
            "# TYPE lkx_jobs_running gauge",
        ]
        for slot in worker.slots:
            lines.append(f'lkx_jobs_running{{agent="{slot.agent.name}"}} {slot.active}')
        lines += ["# HELP lkx_jobs_total Jobs ended, by outcome.", "# TYPE lkx_jobs_total counter"]
        for outcome in ("success", "failed", "terminated"):
            lines.append(f'lkx_jobs_total{{outcome="{outcome}"}} {worker.outcomes.get(outcome, 0)}')
        lines += [
            "# HELP lkx_worker_load Load reported to the server.",
            "# TYPE lkx_worker_load gauge",
        ]
        for slot in worker.slots:
            lines.append(f'lkx_worker_load{{agent="{slot.agent.name}"}} {slot.load:.4f}')
        lines.append(f"lkx_worker_registered {int(worker.registered)}")
        lines.append(f"lkx_worker_draining {int(worker.draining)}")
        sessions = [job.session for job in worker.active_jobs() if job.session is not None]
        snapshots = [session.metrics() for session in sessions]
        tool_calls = sum(s["tool_calls_executed"] for s in snapshots) + worker.tool_calls_done
        errors = sum(s["errors"] for s in snapshots) + worker.errors_done
        lines += [
            "# TYPE lkx_tool_calls_total counter",
            f"lkx_tool_calls_total {tool_calls}",
            "# TYPE lkx_session_errors_total counter",
            f"lkx_session_errors_total {errors}",
        ]
        lines.append("# HELP lkx_stage_latency_ms Per-stage latency of session turns.")
        lines.append("# TYPE lkx_stage_latency_ms histogram")
        for stage in STAGES:
            values: Sequence[float] = worker.stage_values.get(stage, ())
            cumulative = 0
            for bound in BUCKETS_MS:
                cumulative = sum(1 for v in values if v <= bound)
                lines.append(
                    f'lkx_stage_latency_ms_bucket{{stage="{stage}",le="{bound}"}} {cumulative}'
                )
            lines.append(f'lkx_stage_latency_ms_bucket{{stage="{stage}",le="+Inf"}} {len(values)}')
            lines.append(f'lkx_stage_latency_ms_sum{{stage="{stage}"}} {sum(values):.3f}')
            lines.append(f'lkx_stage_latency_ms_count{{stage="{stage}"}} {len(values)}')
        return "\n".join(lines) + "\n"
