"""The HTTP endpoints of ``lkx start``: health, readiness, state as JSON, Prometheus metrics.

One server, two sources: a worker process answers for itself (``WorkerHealth``); under
``--workers N`` the supervisor answers for all its processes (``supervisor_health.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiohttp import web

from livekitex_cli.errors import ResourceError
from livekitex_cli.log import get_logger
from livekitex_cli.tasks import close_web_runner
from livekitex_cli.worker.metrics import CONTENT_TYPE

log = get_logger("worker")

if TYPE_CHECKING:
    from livekitex_cli.worker.worker import Worker


@runtime_checkable
class HealthSource(Protocol):
    def healthy(self) -> bool:
        """``/health``: every agent is registered."""
        ...

    def readiness(self) -> dict[str, Any]:
        """``/ready``: JSON with a ``ready`` key, which decides 200 or 503."""
        ...

    def state(self) -> dict[str, Any]:
        """``/worker``."""
        ...

    def exposition(self) -> bytes:
        """``/metrics``: Prometheus text."""
        ...


class HealthServer:
    def __init__(self, source: HealthSource | Worker, *, host: str, port: int) -> None:
        """``source``: what answers; a ``Worker`` answers for itself (``WorkerHealth``)."""
        self.source = source if isinstance(source, HealthSource) else WorkerHealth(source)
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
        # the bound port, also for port 0 (any free one): what probes and tests read
        log.info("health endpoints listening", extra={"health_port": self.port})
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
        ok = self.source.healthy()
        return web.Response(text="OK" if ok else "not registered", status=200 if ok else 503)

    async def _ready(self, _: web.Request) -> web.Response:
        data = self.source.readiness()
        return web.json_response(data, status=200 if data["ready"] else 503)

    async def _state(self, _: web.Request) -> web.Response:
        return web.json_response(self.state())

    def state(self) -> dict[str, Any]:
        return self.source.state()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = self.source.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def prometheus(self) -> str:
        return self.source.exposition().decode()


class WorkerHealth:
    """The endpoints' answers for one worker process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def healthy(self) -> bool:
        return self.worker.registered

    def readiness(self) -> dict[str, Any]:
        worker = self.worker
        slots = worker.slots
        return {
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

    def state(self) -> dict[str, Any]:
        worker = self.worker
        return {
            "version": worker.version,
            "registered": worker.registered,
            "providers_loaded": worker.providers_loaded,
            "draining": worker.draining,
            "drain_timeout": worker.drain_timeout,
            "max_jobs": worker.max_jobs,
            "agents": [
                {
                    "name": slot.agent.name,
                    "worker_id": slot.connection.worker_id,
                    "registered": slot.connection.registered.is_set(),
                    "max_concurrent_jobs": slot.options.max_concurrent_jobs,
                    "load": slot.load,
                    "full": slot.full,
                    "reported": slot.connection.reported,  # what the server last heard
                    "jobs": [job.to_dict() for job in slot.jobs.values()],
                }
                for slot in worker.slots
            ],
            "jobs_total": dict(worker.outcomes),
            "rejected": dict(worker.rejected),
        }

    def exposition(self) -> bytes:
        return self.worker.metrics.exposition()
