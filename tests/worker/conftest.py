"""A real LiveKit server, ``lkx start`` as a real subprocess, and test participants."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import api, rtc

from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker.event_routing import route_room_events
from livekitex_cli.worker.joining import connect_room
from tests.jaeger import Jaeger, needs_jaeger
from tests.livekit_server import KEY, SECRET, LiveKitServer
from tests.livekit_server import livekit_server as livekit_server  # the fixture, offered here

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[Jaeger]:
    """A real Jaeger on free loopback ports: OTLP/HTTP in, the query API out."""
    if needs_jaeger.args[0]:
        pytest.skip(needs_jaeger.kwargs["reason"])
    server = Jaeger(tmp_path)
    server.start()
    yield server
    server.close()


class WorkerProcess:
    """``python -m livekitex_cli start ...`` with its stderr in a file. In async tests use the
    async forms (``until``, ``get``, ``exited``): the blocking ones would stall the test's loop,
    and with it every room of the test participants."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, *, health_port: int = 0
    ) -> None:
        """``health_port``: 0 lets the worker bind any free port and say which in its log
        (picking a free port here and binding it there are two steps, and twice another
        suite's server took the port between them); a worker whose log cannot be read back
        needs a port chosen here."""
        self.log = log
        self._health_port = health_port
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "livekitex_cli", "start", *args,
                 "--health-port", str(health_port), "--log-format", "json"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                # its own process group: a signal meant for the worker's group (a job's child
                # processes) can never reach the test run; twice a SIGTERM of unknown origin
                # ended a whole run in this file's tests
                start_new_session=True,
            )  # fmt: skip

    @property
    def health_port(self) -> int:
        """The port of the health endpoints: with port 0, the one the worker's log names
        (waits for it up to 30 s; call it from a thread in async code, as ``get`` does)."""
        if not self._health_port:
            self.wait_for('"msg": "health endpoints listening"')
            line = next(
                line for line in self.output().splitlines()
                if '"msg": "health endpoints listening"' in line
            )  # fmt: skip
            self._health_port = int(json.loads(line)["health_port"])
        return self._health_port

    def output(self) -> str:
        if not self.log.is_file():  # e.g. /dev/full: nothing to read back
            return ""
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30.0, *, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(text) >= count:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}): {self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in worker output within {timeout} s: {self.output()}")

    async def until(self, text: str, timeout: float = 30.0, *, count: int = 1) -> None:
        """``wait_for`` without blocking the loop."""
        async with asyncio.timeout(timeout):
            while self.output().count(text) < count:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"worker exited ({self.process.returncode}): {self.output()}"
                    )
                await asyncio.sleep(0.05)

    async def healthy(self, timeout: float = 30.0) -> None:
        """Until ``/health`` answers 200 (registered), for a worker whose log cannot be read."""
        async with asyncio.timeout(timeout):
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"worker exited ({self.process.returncode})")
                try:
                    if (await self.get("/health"))[0] == 200:
                        return
                except OSError:
                    pass  # not listening yet
                await asyncio.sleep(0.1)

    async def get(self, path: str) -> tuple[int, Any]:
        """``health`` without blocking the loop."""
        return await asyncio.to_thread(self.health, path)

    async def exited(self, timeout: float = 30.0) -> int:
        """``wait`` without blocking the loop."""
        return await asyncio.to_thread(self.process.wait, timeout)

    def jobs_started(self) -> list[str]:
        """The rooms of every job this worker started, from its JSON log."""
        rooms = []
        for line in self.output().splitlines():
            if '"msg": "job started"' in line:
                rooms.append(str(json.loads(line).get("room", "")))
        return rooms

    def health(self, path: str) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = answer.read().decode()
                status = answer.status
        except urllib.error.HTTPError as err:
            body, status = err.read().decode(), err.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        # what it started goes with it (``--workers N``: its worker processes)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def worker_environment(
    livekit_url: str, openai_base_url: str, env: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a worker under test: the test server's address and keys, the
    scripted OpenAI server, no real OpenAI key."""
    environment = {
        **os.environ,
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": KEY,
        "LIVEKIT_API_SECRET": SECRET,
        "OPENAI_BASE_URL": openai_base_url,
        **(env or {}),
    }
    environment.pop("OPENAI_API_KEY", None)
    return environment


@pytest.fixture
def start_worker(
    livekit_server: LiveKitServer, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> Iterator[Any]:
    workers: list[WorkerProcess] = []

    def start(
        *args: str,
        ready: bool = True,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        health_port: int = 0,
    ) -> WorkerProcess:
        url = livekit_server.url
        return spawn_worker(
            workers, url, threaded_openai, args, tmp_path, ready, env, log, health_port
        )

    yield start
    for worker in workers:
        worker.stop()


def spawn_worker(
    workers: list[WorkerProcess],
    url: str,
    openai: ScriptedOpenAI,
    args: tuple[str, ...],
    folder: Path,
    ready: bool,
    env: dict[str, str] | None,
    log: Path | None = None,
    health_port: int = 0,
) -> WorkerProcess:
    """``lkx start ARGS`` against ``url``, kept in ``workers`` (stopped by its fixture), waited
    on until registered when ``ready``."""
    environment = worker_environment(url, openai.base_url, env)
    log = log or folder / f"worker{len(workers)}.log"
    worker = WorkerProcess(list(args), environment, log, health_port=health_port)
    workers.append(worker)
    if ready:
        worker.wait_for('"msg": "worker registered"')
    return worker


class Participant:
    """A test user in a room: sends chat, collects what the agent says."""

    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self.chat: asyncio.Queue[str] = asyncio.Queue()
        self.heard: list[tuple[str, str]] = []  # (sender identity, text) of every chat message
        self._reading: list[list[Any]] = []  # [sender, text or None]: opened, not all read yet
        self.transcripts: list[tuple[str, str, dict[str, str]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.agents_left: list[str] = []  # agents that joined and left again, for diagnosis
        room.register_text_stream_handler("lk.chat", self._on_chat)
        room.register_text_stream_handler("lk.transcription", self._on_transcript)
        room.on("participant_disconnected", self._on_left)

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            self.agents_left.append(participant.identity)

    def _on_chat(self, reader: rtc.TextStreamReader, sender: str) -> None:
        """Kept in the order the messages began to arrive (their readers run side by side and
        may finish in another order), as a user reads them."""
        entry: list[Any] = [sender, None]
        self._reading.append(entry)

        async def read() -> None:
            try:
                entry[1] = await reader.read_all()
            except BaseException:
                entry[1] = False  # broken off: not heard, and holds no later message back
                raise
            finally:
                while self._reading and self._reading[0][1] is not None:
                    who, text = self._reading.pop(0)
                    if text is not False:
                        self.heard.append((who, text))
                        self.chat.put_nowait(text)

        self._keep(read())

    def _on_transcript(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            self.transcripts.append((sender, text, dict(reader.info.attributes or {})))

        self._keep(read())

    def _keep(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def say(self, text: str, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            await self.room.local_participant.send_text(text, topic="lk.chat")

    async def transcript(self, text: str, timeout: float = 10.0) -> tuple[str, str, dict[str, str]]:
        """The transcript (sender, text, attributes) that says ``text``, once it has come: a
        transcription and a chat message are two streams, and either may arrive first."""
        async with asyncio.timeout(timeout):
            while not (found := [t for t in self.transcripts if t[1] == text]):
                await asyncio.sleep(0.02)
        return found[0]

    async def next_chat(self, timeout: float = 15.0) -> str:
        async with asyncio.timeout(timeout):
            return await self.chat.get()

    def agent(self) -> rtc.RemoteParticipant | None:
        for participant in self.room.remote_participants.values():
            if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
                return participant
        return None

    async def wait_agent(self, timeout: float = 20.0) -> rtc.RemoteParticipant:
        """The agent once it is ready: it has published ``lk.agent.state``. An agent is in
        the room's list as soon as it signals its join, before its own connection is up, and
        LiveKit drops data sent to it in that window (seen under load: 50 rooms joining at
        once, the first message lost in up to 11 of them)."""
        try:
            async with asyncio.timeout(timeout):
                while (agent := self.agent()) is None or "lk.agent.state" not in agent.attributes:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            seen = self.agent()
            raise TimeoutError(
                f"no agent ready in {self.room.name} after {timeout} s: "
                + (
                    "none joined (the server's livekit.log says whether it offered the job)"
                    if seen is None
                    else f"{seen.identity} joined, attributes {seen.attributes}"
                )
                + (f"; joined and left: {', '.join(self.agents_left)}" if self.agents_left else "")
            ) from None
        return agent

    async def leave(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.room.disconnect()


@pytest.fixture
async def livekit_api(livekit_server: LiveKitServer) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(livekit_server.http_url, KEY, SECRET)
    yield client
    await client.aclose()


async def join_room(
    client: api.LiveKitAPI, url: str, room_name: str, agent_name: str | None, identity: str
) -> Participant:
    """Create the room and dispatch the agent through ``client``, then join through ``url``
    (in a cluster, two nodes may serve the two)."""
    for attempt in range(2):  # a server restart leaves a stale pooled connection behind
        try:
            await client.room.create_room(api.CreateRoomRequest(name=room_name))
            break
        except aiohttp.ClientConnectionError:
            if attempt:
                raise
    if agent_name is not None:
        await client.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=agent_name, room=room_name)
        )
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .to_jwt()
    )
    room = rtc.Room()
    person = Participant(room)
    await connect_room(room, url, token, timeout=60)
    route_room_events(room)  # many rooms in one test process: see event_routing
    return person


@pytest.fixture
async def join(livekit_server: LiveKitServer, livekit_api: api.LiveKitAPI) -> AsyncIterator[Any]:
    """``await join(room, agent_name)``: create the room, dispatch the agent, join as a user."""
    people: list[Participant] = []

    async def enter(
        room_name: str, agent_name: str | None = None, identity: str = "user"
    ) -> Participant:
        person = await join_room(livekit_api, livekit_server.url, room_name, agent_name, identity)
        people.append(person)
        return person

    yield enter
    for person in people:
        await person.leave()


VOICE_AGENT = """\
name: voice-test
instructions: Be brief.
llm: {provider: openai, model: scripted}
stt: {provider: openai}
tts: {provider: openai}
vad: {provider: energy, threshold_db: -35}
min_endpointing_delay: 0.4
"""


@pytest.fixture
def serve_agent(start_worker: Any, join: Any, tmp_path: Path) -> Any:
    """``await serve_agent(agent_yaml, room, *worker_args)``: a worker serving that agent file
    (``lkx start`` given ``worker_args`` too), and a user in ``room`` once the agent is there:
    ``(user, agent participant, worker)``."""

    async def serve(
        text: str, room: str, *worker_args: str
    ) -> tuple[Participant, rtc.RemoteParticipant, Any]:
        name = text.split("name:", 1)[1].split()[0]
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        worker = start_worker(str(path), *worker_args)
        user = await join(room, name)
        return user, await user.wait_agent(), worker

    return serve
