"""The playground's endpoints over real HTTP on loopback, against a scripted stand-in for the
LiveKit server's HTTP root and the dev worker's ``/worker`` endpoint (no LiveKit needed)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from livekit import api
from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.errors import ResourceError
from livekitex_cli.playground import LiveKitAccess, Playground, served_agents
from tests.livekit_server import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "pg-key", "pg-secret-long-enough-for-hs256-0123456789abcdef"
VOICE = "name: {name}\ninstructions: Hi.\nstt: {{provider: openai}}\ntts: {{provider: openai}}\n"
TEXT = "name: {name}\ninstructions: Hi.\n"


class StandIn:
    """Answers ``GET /`` like LiveKit's HTTP root and ``GET /worker`` like the dev worker."""

    def __init__(self) -> None:
        self.worker: dict[str, Any] = {"registered": True, "draining": False, "agents": []}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_get("/", self._root)
        web_app.router.add_get("/worker", self._worker)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _root(self, _: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _worker(self, _: web.Request) -> web.Response:
        return web.json_response(self.worker)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a-voice.yaml").write_text(VOICE.format(name="talker"))
    (tmp_path / "b-broken.yaml").write_text("name: broken\ninstruction: typo\n")
    (tmp_path / "c-text.yaml").write_text(TEXT.format(name="typist"))
    return tmp_path


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    server = StandIn()
    await server.start()
    yield server
    await server.aclose()


@pytest.fixture
async def playground(folder: Path, stand_in: StandIn) -> AsyncIterator[Playground]:
    access = LiveKitAccess(f"ws://127.0.0.1:{stand_in.port}", KEY, SECRET)
    site = Playground(paths=[folder], livekit=access, port=0, worker_port=lambda: stand_in.port)
    await site.start()
    yield site
    await site.aclose()


async def fetch(site: Playground, method: str, path: str, **options: Any) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession() as client,
        client.request(method, f"http://127.0.0.1:{site.port}{path}", **options) as answer,
    ):
        text = await answer.text()
        body = await answer.json() if answer.content_type == "application/json" else text
        return answer.status, body, answer.content_type


async def test_agents_are_the_files_that_validate(playground: Playground) -> None:
    status, body, _ = await fetch(playground, "GET", "/api/agents")
    assert status == 200
    assert body["agents"] == [{"name": "talker", "voice": True}, {"name": "typist", "voice": False}]
    assert body["url"] == playground.livekit.url


async def test_a_session_token_brings_the_agent(playground: Playground) -> None:
    status, body, _ = await fetch(playground, "POST", "/api/session", json={"agent": "typist"})
    assert status == 200
    assert body["agent"] == "typist" and body["url"] == playground.livekit.url
    claims = api.TokenVerifier(KEY, SECRET).verify(body["token"])
    assert claims.identity == body["identity"]
    assert claims.video.room == body["room"] and claims.video.room_join
    assert not claims.video.room_admin and not claims.video.room_create
    assert [a.agent_name for a in claims.room_config.agents] == ["typist"]
    again = (await fetch(playground, "POST", "/api/session", json={"agent": "typist"}))[1]
    assert again["room"] != body["room"]  # a fresh room each time: a fresh dispatch


async def test_requests_it_refuses(playground: Playground) -> None:
    post = "/api/session"
    assert (await fetch(playground, "POST", post, data="agent=typist"))[:2] == (
        415, {"error": "send the session request as JSON"}
    )  # fmt: skip  # a cross-site form post cannot create a session
    assert (await fetch(playground, "POST", post, json=["typist"]))[0] == 400
    status, body, _ = await fetch(playground, "POST", post, json={"agent": "broken"})
    assert (status, body["error"]) == (
        404,
        "no agent named 'broken' is served (agents: talker, typist)",
    )
    status, body, _ = await fetch(
        playground, "GET", "/api/agents", headers={"Host": "evil.example:80"}
    )
    assert (status, body["error"]) == (403, "the playground answers on loopback only")


async def test_a_server_that_is_down_is_named(folder: Path) -> None:
    dead = f"ws://127.0.0.1:{free_port()}"
    site = Playground(paths=[folder], livekit=LiveKitAccess(dead, KEY, SECRET), port=0)
    await site.start()
    try:
        status, body, _ = await fetch(site, "POST", "/api/session", json={"agent": "typist"})
        assert status == 503
        assert (
            body["error"] == f"the LiveKit server at {dead} is not reachable (connection refused)"
        )
        status, body, _ = await fetch(site, "GET", "/api/status?room=r&agent=typist")
        assert body["server"]["ok"] is False and body["worker"]["known"] is False
    finally:
        await site.aclose()


async def test_status_names_the_failed_job_of_the_room(
    playground: Playground, stand_in: StandIn
) -> None:
    jobs = [
        {"room": "room-1", "state": "failed", "error": "model: not an ONNX file"},
        {"room": "room-2", "state": "running", "error": ""},
    ]
    stand_in.worker["agents"] = [{"name": "typist", "registered": True, "jobs": jobs}]
    status, body, _ = await fetch(playground, "GET", "/api/status?room=room-1&agent=typist")
    assert status == 200
    assert body == {
        "server": {"ok": True, "error": ""},
        "worker": {"known": True, "ready": True, "serving": True},
        "job": {"state": "failed", "error": "model: not an ONNX file"},
    }
    body = (await fetch(playground, "GET", "/api/status?room=room-2&agent=typist"))[1]
    assert body["job"] == {"state": "running", "error": ""}
    body = (await fetch(playground, "GET", "/api/status?room=room-3&agent=talker"))[1]
    assert body["job"] == {"state": "none", "error": ""} and body["worker"]["serving"] is False


async def test_the_page_and_its_bundle_are_served(playground: Playground) -> None:
    status, page, kind = await fetch(playground, "GET", "/")
    assert (status, kind) == (200, "text/html")
    assert '<script src="/static/playground.js">' in page
    status, script, kind = await fetch(playground, "GET", "/static/playground.js")
    assert (status, kind) == (200, "text/javascript")
    assert "lk.transcription" in script and len(script) > 100_000  # livekit-client inside
    for path in ("/static/server.py", "/static/..%2Fserver.py", "/static/nothing.js"):
        assert (await fetch(playground, "GET", path))[0] == 404


async def test_a_taken_port_falls_back_unless_it_was_asked_for(folder: Path) -> None:
    access = LiveKitAccess("ws://127.0.0.1:1", KEY, SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        site = Playground(paths=[folder], livekit=access, port=port)
        url = await site.start(fallback=True)  # the default port: any free one instead
        assert site.port != port and url == f"http://127.0.0.1:{site.port}/"
        await site.aclose()
        asked = Playground(paths=[folder], livekit=access, port=port)
        with pytest.raises(ResourceError, match=f"playground port {port}"):
            await asked.start(fallback=False)


def test_dev_refuses_an_agent_it_does_not_serve(folder: Path) -> None:
    result = CliRunner().invoke(app, ["dev", str(folder), "--agent", "nope"])
    assert result.exit_code == 1
    assert "no agent named 'nope' is served (agents: talker, typist)" in result.output


def test_reading_agent_names_imports_no_agent_code() -> None:
    """The supervisor learns names from YAML: the example agents' tools stay unimported."""
    script = (
        "import sys; from livekitex_cli.playground import served_agents; "
        "names = [a.name for a in served_agents(['agents'])]; "
        "print(names, sorted(m for m in sys.modules if m.startswith('lkx_examples')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['receptionist', 'support-agent', 'voice-assistant'] []"
    assert [a.name for a in served_agents([ROOT / "agents"])] == [
        "receptionist",
        "support-agent",
        "voice-assistant",
    ]
