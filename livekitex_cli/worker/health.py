"""The worker's HTTP endpoints: health, readiness, state as JSON, and Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from livekitex_cli.errors import ResourceError
from livekitex_cli.tasks import close_web_runner

if TYPE_CHECKING:
    from livekitex_cli.worker.worker import Worker

from livekitex_cli.worker.metrics import CONTENT_TYPE


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
            await close_web_runner(self._runner)
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
        body = self.worker.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def prometheus(self) -> str:
        return self.worker.metrics.exposition().decode()
