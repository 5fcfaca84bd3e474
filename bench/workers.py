"""Text-conversation throughput with one worker process and with two (``lkx start --workers``),
through the real LiveKit server and the scripted OpenAI-compatible server (instant answers).

    python -m bench workers [--rooms 20] [--turns 10] [--repeats 3]

Per run: ``lkx start --workers N``, ``--rooms`` rooms each with one typing participant, then
every participant sends ``--turns`` messages one after the other (each waits for the agent's
first words), all rooms at once. Throughput is turns answered per second of wall time. Runs
alternate 1, 2, 1, 2, ... and the medians are printed. The participants, the LiveKit server and
the scripted server share the machine's cores with the workers: on a small machine they, not
the worker, may be what limits throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from livekit import api

from bench.common import (
    ECHO_AGENT,
    Framework,
    Person,
    WorkerRun,
    enter_room,
    livekit,
    scripted_openai,
    stats,
    wait_agents,
)
from livekitex_cli.worker.child import free_port
from livekitex_cli.worker.devserver import LocalServer


def worker(agent_file: Path, workers: int, port: int) -> Framework:
    return Framework(
        f"lkx --workers {workers}",
        [sys.executable, "-m", "livekitex_cli", "start", str(agent_file), "--workers",
         str(workers), "--health-port", str(port), "--log-format", "json"],
        "registered",
    )  # fmt: skip


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as err:
        err.close()
        return int(err.code), None


async def wait_ready(run: WorkerRun, port: int, timeout: float = 120) -> float:
    """Seconds from the process start until ``/ready`` says 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.process.poll() is None:
        try:
            if (await asyncio.to_thread(get, port, "/ready"))[0] == 200:
                return time.perf_counter() - run.started
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"not ready: {run.log.read_text()[-2000:]}")


async def one_run(
    agent_file: Path, workers: int, server: LocalServer, openai_url: str, *, rooms: int,
    turns: int, tag: str, folder: Path,
) -> dict[str, Any]:  # fmt: skip
    port = free_port()
    run = WorkerRun(worker(agent_file, workers, port), server, openai_url, folder / f"{tag}.log")
    client = api.LiveKitAPI(
        server.url.replace("ws://", "http://"), server.api_key, server.api_secret
    )
    people: list[Person] = []
    try:
        ready_s = await wait_ready(run, port)
        for index in range(rooms):
            people.append(await enter_room(server, client, f"{tag}-{index}", "bench-echo"))
        if await wait_agents(people, timeout=120) < rooms:
            raise RuntimeError(f"not every room got its agent: {run.log.read_text()[-2000:]}")
        await asyncio.gather(*(person.turn("warm up") for person in people))

        async def converse(person: Person) -> list[float]:
            return [await person.turn(f"message {turn}") for turn in range(turns)]

        started = time.perf_counter()
        latencies = await asyncio.gather(*(converse(person) for person in people))
        elapsed = time.perf_counter() - started
        per_process: list[int] = []
        if workers > 1:
            state = (await asyncio.to_thread(get, port, "/worker"))[1]
            for process in state["processes"]:
                agents = (process["worker"] or {}).get("agents", [])
                per_process.append(sum(len(agent["jobs"]) for agent in agents))
        return {
            "ready_s": round(ready_s, 2),
            "turns_per_s": round(rooms * turns / elapsed, 1),
            "turn_ms": stats([value for room in latencies for value in room]),
            "jobs_per_process": per_process or [rooms],
        }
    finally:
        for person in people:
            await person.room.disconnect()
        await client.aclose()
        run.stop()


async def run(rooms: int, turns: int, repeats: int) -> dict[str, Any]:
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with (
        tempfile.TemporaryDirectory() as name,
        scripted_openai() as openai,
        livekit(port=free_port()) as server,
    ):
        folder = Path(name)
        agent_file = folder / "echo.yaml"
        agent_file.write_text(ECHO_AGENT)
        for repeat in range(repeats):
            for workers in (1, 2):
                tag = f"w{workers}-r{repeat}"
                print(f"== --workers {workers}, run {repeat + 1} of {repeats}", flush=True)
                result = await one_run(
                    agent_file, workers, server, openai.base_url, rooms=rooms, turns=turns,
                    tag=tag, folder=folder,
                )  # fmt: skip
                print(json.dumps(result), flush=True)
                runs[workers].append(result)
    summary: dict[str, Any] = {"rooms": rooms, "turns_per_room": turns, "repeats": repeats}
    for workers, results in runs.items():
        summary[f"workers_{workers}"] = {
            "turns_per_s_median": statistics.median(r["turns_per_s"] for r in results),
            "turn_ms_median": statistics.median(r["turn_ms"]["median"] for r in results),
            "turn_ms_p95_median": statistics.median(r["turn_ms"]["p95"] for r in results),
            "ready_s_median": statistics.median(r["ready_s"] for r in results),
            "jobs_per_process": [r["jobs_per_process"] for r in results],
        }
    one, two = summary["workers_1"], summary["workers_2"]
    summary["throughput_ratio_2_over_1"] = round(
        two["turns_per_s_median"] / one["turns_per_s_median"], 3
    )
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench workers", description=__doc__)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args.rooms, args.turns, args.repeats))
    print(json.dumps(summary, indent=2))
    return summary
