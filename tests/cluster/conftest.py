"""A LiveKit cluster on this machine: one Redis (Debian's ``redis-server``, installed by
scripts/install-test-tools.sh), two ``livekit-server`` nodes sharing it, ``lkx start`` workers
connected to either node and test participants joining through either node."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api

from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker.devserver import quiet_port
from tests.livekit_server import KEY, SECRET, LiveKitServer, end_process, needs_server
from tests.worker.conftest import Participant, WorkerProcess, join_room, spawn_worker

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (scripts/install-test-tools.sh installs it)",
)
cluster_test = [pytest.mark.livekit, pytest.mark.slow, needs_server, needs_redis]


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port, in its own folder, saving nothing."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = quiet_port()
        self.log = folder / "redis.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no", "--dir", str(folder)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        end_process(self.process)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[LiveKitServer]]:
    """Two LiveKit nodes sharing ``redis_server``, each with its own ports and UDP range."""
    started: list[LiveKitServer] = []
    try:
        for name in ("node-a", "node-b"):
            node = LiveKitServer(tmp_path / name, redis=redis_server.address)
            started.append(node)
            node.start()
        yield started
    finally:
        for node in started:
            node.close()


@pytest.fixture
async def apis(nodes: list[LiveKitServer]) -> AsyncIterator[list[api.LiveKitAPI]]:
    """A server API client per node."""
    clients = [api.LiveKitAPI(node.http_url, KEY, SECRET) for node in nodes]
    yield clients
    for client in clients:
        await client.aclose()


@pytest.fixture
def cluster_worker(
    nodes: list[LiveKitServer], threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> Iterator[Any]:
    """``cluster_worker(node, *args)``: ``lkx start`` connected to ``nodes[node]``."""
    workers: list[WorkerProcess] = []

    def start(
        node: int, *args: str, ready: bool = True, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        return spawn_worker(workers, nodes[node].url, threaded_openai, args, tmp_path, ready, env)

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
async def join(nodes: list[LiveKitServer], apis: list[api.LiveKitAPI]) -> AsyncIterator[Any]:
    """``await join(room, agent, dispatch=i, via=j)``: create the room and dispatch the agent
    through node ``i``, join as a user through node ``j``."""
    people: list[Participant] = []

    async def enter(
        room: str, agent: str | None, *, dispatch: int, via: int, identity: str = "user"
    ) -> Participant:
        person = await join_room(apis[dispatch], nodes[via].url, room, agent, identity)
        people.append(person)
        return person

    yield enter
    for person in people:
        await person.leave()
