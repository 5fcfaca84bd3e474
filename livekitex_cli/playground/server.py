"""The playground's HTTP server on loopback: the page and its JSON endpoints.

- ``GET /``: the page (``static/index.html``, its script and style beside it);
- ``GET /api/agents``: the served agents (read from YAML) and the LiveKit URL;
- ``POST /api/session`` ``{"agent": NAME}``: ``{url, token, room, identity, agent}``, a fresh
  room whose token brings the agent; 503 with a message when the LiveKit server is down;
- ``GET /api/status?room=R&agent=A``: the LiveKit server, the dev worker, the agent's job in R.

Only requests addressed to the loopback host are answered (no DNS rebinding) and a session is
created only from a JSON body (no cross-site form posts).
"""

from __future__ import annotations

import asyncio
import errno
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, web

from livekitex_cli.errors import LkxError, ResourceError, ValidationError
from livekitex_cli.log import get_logger
from livekitex_cli.playground.catalog import served_agents
from livekitex_cli.playground.worker_state import WorkerState, read_worker_state
from livekitex_cli.tasks import close_web_runner

log = get_logger("playground")
DEFAULT_PORT = 7870
STATIC = Path(__file__).with_name("static")
FILES = {
    "index.html": "text/html",
    "playground.js": "text/javascript",
    "playground.css": "text/css",
}
PROBE_TIMEOUT = ClientTimeout(total=2)


@dataclass(frozen=True)
class LiveKitAccess:
    """Where the page's participant joins, and the key that signs its tokens."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)

    @property
    def http_url(self) -> str:
        return "http" + self.url.removeprefix("ws") if self.url.startswith("ws") else self.url


class Playground:
    def __init__(
        self,
        *,
        paths: Sequence[str | Path],
        livekit: LiveKitAccess,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        worker_port: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.paths = list(paths)
        self.livekit = livekit
        self.host, self.port = host, port
        self.worker_port = worker_port  # the current worker's health port (None: none yet)
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self, *, fallback: bool = True) -> str:
        """Serve; the port taken and ``fallback`` means any free port. Returns the page URL."""
        app = web.Application(middlewares=[self._loopback_only])
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/agents", self._agents)
        app.router.add_post("/api/session", self._session)
        app.router.add_get("/api/status", self._status)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            self.port = await self._bind(self.port)
        except OSError as exc:
            if not fallback or exc.errno != errno.EADDRINUSE:
                await self.aclose()
                reason = f"playground port {self.port}: {exc.strerror}"
                raise ResourceError("port", reason) from None
            self.port = await self._bind(0)
        self._client = ClientSession(timeout=PROBE_TIMEOUT)
        return self.url

    async def _bind(self, port: int) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await close_web_runner(self._runner)
            self._runner = None

    @web.middleware
    async def _loopback_only(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        allowed = {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", self.host)}
        if request.host not in allowed:
            return _problem(403, "the playground answers on loopback only")
        response: web.StreamResponse = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _page(self, _: web.Request) -> web.StreamResponse:
        return await self._file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request.match_info["name"])

    async def _file(self, name: str) -> web.StreamResponse:
        if name not in FILES or not (STATIC / name).is_file():
            raise web.HTTPNotFound()
        body = await asyncio.to_thread((STATIC / name).read_bytes)
        return web.Response(body=body, content_type=FILES[name], charset="utf-8")

    async def _agents(self, _: web.Request) -> web.Response:
        agents = await asyncio.to_thread(served_agents, self.paths)
        return web.json_response(
            {
                "agents": [{"name": a.name, "voice": a.voice} for a in agents],
                "url": self.livekit.url,
            }
        )

    async def _session(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _problem(415, "send the session request as JSON")
        try:
            body = await request.json()
            name = str(body["agent"])
        except (ValueError, KeyError, TypeError):
            return _problem(400, 'the body must be {"agent": NAME}')
        names = [a.name for a in await asyncio.to_thread(served_agents, self.paths)]
        if name not in names:
            return _problem(404, f"no agent named '{name}' is served (agents: {', '.join(names)})")
        down = await self._server_problem()
        if down:
            return _problem(503, down)
        try:
            session = self.new_session(name)
        except LkxError as exc:
            return _problem(400 if isinstance(exc, ValidationError) else 500, str(exc))
        log.info("playground session", extra={"room": session["room"], "agent": name})
        return web.json_response(session)

    def new_session(self, agent: str) -> dict[str, str]:
        """A fresh room and identity, and a token whose join dispatches ``agent`` there."""
        from livekitex_cli.worker.tokens import mint_token

        room = f"playground-{agent}-{secrets.token_hex(3)}"
        identity = f"user-{secrets.token_hex(3)}"
        token = mint_token(
            api_key=self.livekit.api_key,
            api_secret=self.livekit.api_secret,
            room=room,
            identity=identity,
            name="You",
            dispatch=agent,
            dispatch_metadata='{"via": "lkx-playground"}',
        )
        return {"url": self.livekit.url, "token": token, "room": room, "identity": identity,
                "agent": agent}  # fmt: skip

    async def _status(self, request: web.Request) -> web.Response:
        room = request.query.get("room", "")
        agent = request.query.get("agent", "")
        down, state = await asyncio.gather(self._server_problem(), self._worker_state())
        job = state.job(agent, room)
        return web.json_response(
            {
                "server": {"ok": not down, "error": down},
                "worker": {
                    "known": state.port is not None,
                    "ready": state.ready,
                    "serving": agent in state.agents,
                },
                "job": {
                    "state": job.state if job else "none",
                    "error": job.error if job else "",
                },
            }
        )

    async def _server_problem(self) -> str:
        """Empty when the LiveKit server answers, otherwise what to tell the user."""
        assert self._client is not None
        try:
            async with self._client.get(self.livekit.http_url) as answer:
                if answer.status < 500:
                    return ""
                reason = f"HTTP {answer.status}"
        except ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            reason = "connection refused" if refused else exc.strerror or "cannot connect"
        except TimeoutError:
            reason = "no answer in time"
        except (ClientError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
        return f"the LiveKit server at {self.livekit.url} is not reachable ({reason})"

    async def _worker_state(self) -> WorkerState:
        assert self._client is not None
        return await read_worker_state(self._client, self.worker_port())


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
