"""What every benchmark needs: servers on loopback, worker processes, rooms, memory (PSS), statistics."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit import api, rtc

from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker.devserver import LocalServer, start_local_server

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LKX_CACHE", Path.home() / ".cache/lkx"))
LKA_VERSION = "1.8.9"
LKA_VENV = CACHE / "lka-venv"
ECHO_AGENT = (
    "name: bench-echo\ninstructions: Echo.\nllm: {provider: openai, model: scripted}\n"
    "worker: {max_concurrent_jobs: 200, load_threshold: 1.0}\n"
)


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }


def reference_ms(runs: int = 7) -> float:
    """How fast this machine runs now: the median time of a fixed piece of work (FFTs of a
    second of 16 kHz audio, and a Python loop), in ms. The same code's CPU per voice room
    measured 8.3 % of a core one day and 15-19 % two days later on these VMs: a figure is
    compared with another by its ratio to this, taken the same hour."""
    import numpy as np

    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        for _ in range(100):
            np.fft.rfft(audio)
        total = 0
        for i in range(200_000):
            total += i % 7
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 1)


def machine(before: float) -> dict[str, Any]:
    """The machine a benchmark ran on, with ``reference_ms`` taken before it and now."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": round(os.getloadavg()[0], 2),
        "reference_ms": {"before": before, "after": reference_ms()},
    }


def tree_pss_mb(pid: int) -> float:
    """Memory of a process and all its descendants, from /proc: the sum of their PSS
    (proportional set size), so pages that forked processes share are counted once, not once
    per process as a sum of RSS would."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return total / 1024


def scripted_openai() -> AbstractContextManager[ScriptedOpenAI]:
    """The scripted OpenAI-compatible server in its own thread: instant echo answers."""
    return ScriptedOpenAI.in_thread()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and all its descendants, from /proc (every thread
    of a process is in its own ``stat``; children that ended are not)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


@dataclass(frozen=True)
class Remote:
    """A LiveKit server known only by its address and key, as a child process of a benchmark
    gets it (``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``)."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)

    @classmethod
    def from_env(cls) -> Remote:
        env = os.environ
        return cls(env["LIVEKIT_URL"], env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"])

    @staticmethod
    def env(server: LocalServer | Remote) -> dict[str, str]:
        """The environment that tells a child process where ``server`` is."""
        return {"LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": server.api_key,
                "LIVEKIT_API_SECRET": server.api_secret}  # fmt: skip


@contextmanager
def livekit(port: int = 0) -> Iterator[LocalServer]:
    """A local server, on free ports unless ``port`` is given: with a fixed port, two runs of
    the test suite at once had the second bench's workers register with the first bench's
    server (HTTP 401: its key)."""
    server = start_local_server(port=port or None)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Framework:
    """How to start one side's worker and how to know it registered."""

    name: str
    command: list[str]
    ready_text: str
    env: dict[str, str] = field(default_factory=dict)


def lkx_framework(agent_file: Path) -> Framework:
    return Framework(
        "lkx",
        [sys.executable, "-m", "livekitex_cli", "start", str(agent_file), "--health-port", "0",
         "--log-format", "json", "--log-level", "info"],
        '"msg": "worker registered"',
    )  # fmt: skip


def lka_framework() -> Framework:
    return Framework(
        "livekit-agents",
        [str(LKA_VENV / "bin/python"), str(ROOT / "bench/lka/agent.py"), "start"],
        "registered worker",
        {"LKA_AGENT_NAME": "bench-echo"},
    )


class WorkerRun:
    def __init__(
        self, framework: Framework, server: LocalServer, openai_url: str, log: Path
    ) -> None:
        env = {**os.environ, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": server.api_key,
               "LIVEKIT_API_SECRET": server.api_secret, "OPENAI_BASE_URL": openai_url,
               **framework.env}  # fmt: skip
        env.pop("OPENAI_API_KEY", None)
        self.log = log
        self.framework = framework
        self.started = time.perf_counter()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                framework.command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip

    def wait_registered(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.framework.ready_text in self.log.read_text(errors="replace"):
                return time.perf_counter() - self.started
            if self.process.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError(
            f"{self.framework.name} did not register: {self.log.read_text()[-2000:]}"
        )

    def pss_mb(self) -> float:
        return tree_pss_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def agent_in(room: rtc.Room) -> rtc.RemoteParticipant | None:
    """The room's agent once it has published its state (both frameworks do): before that
    its connection may not be up and what is sent to it is dropped."""
    for participant in room.remote_participants.values():
        if (
            participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
            and "lk.agent.state" in participant.attributes
        ):
            return participant
    return None


class Person:
    """A participant that types on lk.chat and times the agent's first words."""

    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self.first_words: asyncio.Queue[float] = asyncio.Queue()
        self._tasks: set[Any] = set()
        room.register_text_stream_handler("lk.transcription", self._on_text)

    def _on_text(self, reader: rtc.TextStreamReader, sender: str) -> None:
        if sender.startswith("agent") or "agent" in sender:
            arrived = time.perf_counter()
            self.first_words.put_nowait(arrived)
            task = asyncio.ensure_future(self._drain(reader))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self, reader: rtc.TextStreamReader) -> None:
        try:
            await reader.read_all()
        except Exception:  # noqa: BLE001 - only the arrival time matters here
            pass

    def agent_here(self) -> bool:
        return agent_in(self.room) is not None

    async def turn(self, text: str, timeout: float = 30) -> float:
        while not self.first_words.empty():
            self.first_words.get_nowait()
        sent = time.perf_counter()
        await self.room.local_participant.send_text(text, topic="lk.chat")
        async with asyncio.timeout(timeout):
            arrived = await self.first_words.get()
        return (arrived - sent) * 1000


async def connect_user(server: LocalServer | Remote, room: rtc.Room, name: str) -> None:
    """``room`` joined as ``user-<name>``, the room's user."""
    token = (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(f"user-{name}")
        .with_grants(api.VideoGrants(room_join=True, room=name))
        .to_jwt()
    )
    await room.connect(server.url, token)


async def enter_room(
    server: LocalServer | Remote, client: api.LiveKitAPI, room: str, agent: str
) -> Person:
    await client.room.create_room(api.CreateRoomRequest(name=room))
    await client.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name=agent, room=room)
    )
    person = Person(rtc.Room())
    await connect_user(server, person.room, room)
    return person


def report(
    prog: str,
    argv: list[str] | None,
    run: Callable[..., Coroutine[Any, Any, Any]],
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """A benchmark's command line: run it, print its results, ``--json FILE`` writes them.
    ``options`` adds a benchmark's own arguments; ``run`` then takes the parsed ones."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {prog}")
    parser.add_argument("--json", type=Path, help="also write the results here")
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    before = reference_ms()
    results = asyncio.run(run(args) if options is not None else run())
    results = {**results, "machine": machine(before)}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


async def wait_agents(
    people: list[Person], timeout: float = 180, *, stall: float | None = None
) -> int:
    """Wait until every room has its agent; how many have one when the time is up, or (with
    ``stall``) when no agent more has come for that many seconds."""
    deadline = time.monotonic() + timeout
    here, moved = 0, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(p.agent_here() for p in people)
        if now == len(people):
            break
        if now != here:
            here, moved = now, time.monotonic()
        elif stall is not None and time.monotonic() - moved > stall:
            break
        await asyncio.sleep(0.05)
    return sum(p.agent_here() for p in people)
