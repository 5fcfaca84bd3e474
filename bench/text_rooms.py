"""Typed-chat conversations at scale: lkx, livekit-agents and a bare floor, through the same
local LiveKit server and the same scripted OpenAI-compatible server (instant answers).

    python -m bench text_rooms [--rooms 1,10,50,100,200] [--turns 10] [--frameworks lkx,lka,floor]
                               [--pause 0] [--timeout 30] [--join-timeout 180] [--join-stall 45]
                               [--lka-max-rooms N] [--lka-admit-all] [--rooms-per-client 50]
                               [--logs DIR] [--json FILE]

Per room count N and per side (sides alternate within each N, on a fresh LiveKit server): N
rooms, one typing participant each, all at once; each sends ``--turns`` messages on ``lk.chat``
one after the other (``--pause`` s after each reply) and waits for the first ``lk.transcription``
text of the reply (after one warm-up turn). The participants run in ``bench.chatters``
processes of up to ``--rooms-per-client`` rooms each, at least one per core, so that one
process's core is not what limits.

- lkx: ``lkx start`` with the echo agent, dispatched to every room;
- livekit-agents: ``bench/lka/agent.py`` with N idle job processes started ahead (one process
  per job is its design), dispatched to every room;
- floor: ``bench.floor``, one process that joins every room by name with its own token (no
  dispatch, no agent framework) and answers each message with one text stream.

Turn latency p50/p95 over every turn; lost: no reply within ``--timeout`` s; not sent: turns of
rooms whose agent never came (within ``--join-timeout`` s, or ``--join-stall`` s without one
more); refused: dispatches the server could give to no worker (its log). CPU over the
conversations, as % of one core and as ms per answered turn: the worker's process tree (total
and per room), the chatters processes (sum, and the busiest one), the LiveKit server, and this
process (the scripted OpenAI server); a phase of well under a second gives coarse figures.
PSS: the worker's tree at the end. Above the floor: a side's latency minus the floor's at the
same N. With no ``--pause`` every room always has a message in flight: past what the machine
answers per second, latency is queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from bench import floor
from bench.chatters import Chatters
from bench.common import (
    ECHO_AGENT,
    Framework,
    Remote,
    WorkerRun,
    livekit,
    lka_framework,
    lkx_framework,
    report,
    scripted_openai,
    stats,
    tree_cpu_seconds,
)
from bench.text_table import above_floor, held, table

SIDES = {"lkx": "lkx", "lka": "livekit-agents", "floor": "floor"}


def framework(
    side: str, rooms: int, prefix: str, folder: Path, admit_all: bool, lkx_workers: int = 1
) -> Framework:
    if side == "lkx":
        agent_file = folder / "echo.yaml"
        agent_file.write_text(ECHO_AGENT)
        base = lkx_framework(agent_file)
        return dataclasses.replace(base, command=[*base.command, "--workers", str(lkx_workers)])
    if side == "lka":
        base = lka_framework()
        env = {"LKA_IDLE_PROCESSES": str(rooms), "LKA_HTTP_HOST": "127.0.0.1"}
        env.update({"LKA_ADMIT_ALL": "1"} if admit_all else {})
        return dataclasses.replace(base, env={**base.env, **env})
    command = [sys.executable, "-m", "bench.floor", "--prefix", prefix, "--rooms", str(rooms)]
    return Framework("floor", command, floor.READY)


def cpu(pids: list[int]) -> list[float]:
    return [tree_cpu_seconds(pid) for pid in pids]


async def settle(pid: int, timeout: float = 60, idle: float = 0.15) -> float:
    """Seconds until the worker's tree used under ``idle`` of a core over a second (its job
    processes started ahead, warmed up), or ``timeout``."""
    began, last = time.perf_counter(), tree_cpu_seconds(pid)
    while time.perf_counter() - began < timeout:
        await asyncio.sleep(1)
        now = tree_cpu_seconds(pid)
        if now - last < idle:
            break
        last = now
    return round(time.perf_counter() - began, 1)


def figures(done: list[dict[str, Any]], used: list[float], elapsed: float, out: dict[str, Any],
            turns: int) -> None:  # fmt: skip
    """``out`` gets the turns' figures; ``used``: % of a core of the worker's tree, the server
    and this process; each chatters process says its own CPU seconds (all its threads)."""
    latencies = [x for r in done for x in r.get("latencies_ms", [])]
    answered = [x for x in latencies if x is not None]
    out["turns_not_sent"] = out["rooms"] * turns - len(latencies)
    if not latencies:
        return  # no conversation: no time to share CPU over
    per_turn = elapsed * 10 / max(len(answered), 1)  # % of a core -> ms per answered turn
    each = [r.get("cpu_s", 0.0) / elapsed * 100 for r in done]
    worker, chatters = used[0], sum(each)
    out.update({
        "turn_ms": stats(answered) if answered else None,
        "turns_lost": len(latencies) - len(answered),
        "wall_s": round(elapsed, 2),
        "turns_per_s": round(len(answered) / elapsed, 1),
        "worker_cpu_percent": round(worker, 1),
        "worker_cpu_percent_per_room": round(worker / max(out["rooms_with_agent"], 1), 2),
        "worker_cpu_ms_per_turn": round(worker * per_turn, 2),
        "chatters_cpu_percent": round(chatters, 1),
        "chatters_cpu_percent_busiest": round(max(each), 1),
        "chatters_cpu_ms_per_turn": round(chatters * per_turn, 2),
        "chatters_processes": len(done),
        "server_cpu_percent": round(used[1], 1),
        "bench_cpu_percent": round(used[2], 1),
    })  # fmt: skip


async def step(side: str, rooms: int, args: argparse.Namespace, openai_url: str,
               folder: Path) -> dict[str, Any]:  # fmt: skip
    prefix = f"{side}-{rooms}"
    out: dict[str, Any] = {"framework": SIDES[side], "rooms": rooms}
    with livekit() as server:
        side_framework = framework(
            side, rooms, prefix, folder, args.lka_admit_all, args.lkx_workers
        )
        run = WorkerRun(side_framework, server, openai_url, folder / f"{prefix}.log")
        chatters: list[Chatters] = []
        try:
            out["registered_s"] = round(await asyncio.to_thread(run.wait_registered, 120), 2)
            if side != "floor":  # the floor joins its rooms at once: it does not settle first
                out["settled_s"] = await settle(run.process.pid)
            remote = Remote(server.url, server.api_key, server.api_secret)
            options = [
                "--turns", str(args.turns), "--pause", str(args.pause),
                "--timeout", str(args.timeout),
                "--join-timeout", str(args.join_timeout), "--join-stall", str(args.join_stall),
                *([] if side == "floor" else ["--agent", "bench-echo"]),
            ]  # fmt: skip
            chatters = await Chatters.spread(
                remote, prefix, rooms, args.rooms_per_client, options, folder / f"{prefix}-c.log"
            )
            bound = args.join_timeout + args.timeout + 120
            ready = await asyncio.gather(*(c.line(bound) for c in chatters))
            out["rooms_with_agent"] = sum(r.get("with_agent", 0) for r in ready)
            out["rooms_failed"] = rooms - out["rooms_with_agent"]
            out["join_s"] = max(r.get("join_s", 0.0) for r in ready)
            out["warm_up_lost"] = sum(r.get("warm_up_lost", 0) for r in ready)
            going = [c for c, r in zip(chatters, ready, strict=True) if "error" not in r]
            pids = [run.process.pid, server.process.pid]
            before, own, began = cpu(pids), time.process_time(), time.perf_counter()
            for c in going:  # a chatters that never said it was ready is not waited for
                c.go()
            done = await asyncio.gather(*(c.line(args.turns * args.timeout + 60) for c in going))
            elapsed = time.perf_counter() - began
            used = [(b - a) / elapsed * 100 for a, b in zip(before, cpu(pids), strict=True)]
            used.append((time.process_time() - own) / elapsed * 100)
            out["worker_pss_mb"] = round(run.pss_mb(), 1)
            figures(done, used, elapsed, out, args.turns)
            if errors := [r["error"] for r in [*ready, *done] if "error" in r]:
                out["errors"] = errors
            if run.process.poll() is not None:
                out.setdefault("errors", []).append(f"worker exited ({run.process.returncode})")
        except Exception as exc:  # noqa: BLE001 - one side failing at one N is a result too
            out.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}"[:2000])
        finally:
            await asyncio.gather(*(c.aclose() for c in chatters))
            await asyncio.to_thread(run.stop)
            if server.folder:  # the server's warnings: dispatches no worker took
                text = (server.folder / "livekit.log").read_text(errors="replace")
                out["dispatches_refused"] = text.count("no worker available to handle job")
                if args.logs:
                    (folder / f"{prefix}-server.log").write_text(text)
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rooms = [int(n) for n in args.rooms.split(",")]
    sides = [s for s in args.frameworks.split(",") if s]
    notes = [
        "floor: one bench.floor process joins every room by name with its own token "
        "(no agent dispatch, no agent framework) and answers each lk.chat with one "
        "lk.transcription text stream",
        "livekit-agents: one idle job process started ahead per room (LKA_IDLE_PROCESSES=N); "
        + ("it reports load 0 and so takes every job (LKA_ADMIT_ALL)" if args.lka_admit_all
           else "its load is the machine's CPU use: past load_threshold 1.0 it answers a job "
           "'not available', silently, and the server does not offer that job again"),
        "dispatches_refused: the server's warnings 'no worker available to handle job' "
        "(it warns for some refusals only: rooms_failed is the count)",
    ]  # fmt: skip
    steps: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    keep: AbstractContextManager[str | None] = nullcontext(str(args.logs)) if args.logs else (
        tempfile.TemporaryDirectory())  # fmt: skip
    with keep as name, scripted_openai() as openai:
        folder = Path(name or ".")
        folder.mkdir(parents=True, exist_ok=True)
        for n in rooms:
            for side in sides:
                if side == "lka" and args.lka_max_rooms and n > args.lka_max_rooms:
                    notes.append(f"livekit-agents not run at {n} rooms (--lka-max-rooms)")
                    continue
                print(f"== {SIDES[side]}: {n} rooms x {args.turns} turns", flush=True)
                steps.append(await step(side, n, args, openai.base_url, folder))
                print({k: v for k, v in steps[-1].items() if k != "turn_ms"}, flush=True)
    result: dict[str, Any] = {
        "turns_per_room": args.turns, "timeout_s": args.timeout, "cpus": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "notes": notes, "steps": steps,
    }  # fmt: skip
    result["above_floor"] = above_floor(steps)
    result["held"] = held(steps)
    table(result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench text_rooms", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--rooms", default="1,10,50,100,200", help="room counts, comma-separated")
    parser.add_argument("--turns", type=int, default=10, help="messages per room")
    parser.add_argument("--frameworks", default="lkx,lka,floor", help="a subset of lkx,lka,floor")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a reply may take")
    parser.add_argument("--join-timeout", type=float, default=180, help="seconds for agents")
    parser.add_argument("--join-stall", type=float, default=45, help="... or without one more")
    parser.add_argument("--lka-max-rooms", type=int, help="no livekit-agents above this N")
    parser.add_argument(
        "--lka-admit-all", action="store_true",
        help="livekit-agents reports load 0, so takes every job (LKA_ADMIT_ALL)",
    )  # fmt: skip
    parser.add_argument(
        "--pause", type=float, default=0, help="seconds between a reply and the next"
    )
    parser.add_argument(
        "--rooms-per-client", type=int, default=50,
        help="rooms per chatters process (at least one process per core)",
    )  # fmt: skip
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here")
    parser.add_argument("--lkx-workers", type=int, default=1, help="lkx start --workers N")
    args, rest = parser.parse_known_args(argv)
    if unknown := [s for s in args.frameworks.split(",") if s and s not in SIDES]:
        parser.error(f"unknown frameworks: {unknown}")
    report("text_rooms", rest, lambda: run(args))
