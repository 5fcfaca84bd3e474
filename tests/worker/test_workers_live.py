"""``lkx start --workers 2`` against the real LiveKit server: jobs spread over both processes,
one health port answers for all (``/metrics`` summed), a killed process is started again while
the other's conversations go on, and SIGTERM drains every process."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, ToolCalls
from tests.livekit_server import needs_server
from tests.worker.conftest import WorkerProcess
from tests.worker.test_worker_live import GREETING, SUPPORT, metric

LIVE = ("reserved", "running")
RUNNING = 'lkx_jobs_running{agent="support-agent"}'


async def all_ready(worker: WorkerProcess, timeout: float = 90.0) -> dict[str, Any]:
    """The supervisor's ``/worker`` once its ``/ready`` says every process is ready."""
    async with asyncio.timeout(timeout):
        while True:
            if worker.process.poll() is not None:
                raise AssertionError(f"exited ({worker.process.returncode}): {worker.output()}")
            try:
                if (await worker.get("/ready"))[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
    status, state = await worker.get("/worker")
    assert status == 200
    return dict(state)


def rooms_by_process(state: dict[str, Any]) -> dict[int, set[str]]:
    """The rooms each live process runs a job for, by its index."""
    return {
        process["index"]: {
            job["room"]
            for agent in (process["worker"] or {}).get("agents", [])
            for job in agent["jobs"]
            if job["state"] in LIVE
        }
        for process in state["processes"]
    }


async def placed(
    worker: WorkerProcess, rooms: set[str], timeout: float = 30.0
) -> dict[int, set[str]]:
    """``rooms_by_process`` once the supervisor has seen a job for each of ``rooms``."""
    async with asyncio.timeout(timeout):
        while True:
            by_process = rooms_by_process((await worker.get("/worker"))[1])
            if set().union(*by_process.values()) >= rooms:
                return by_process
            await asyncio.sleep(0.1)


async def metric_reaches(worker: WorkerProcess, name: str, value: float) -> str:
    async with asyncio.timeout(30):
        while metric(text := (await worker.get("/metrics"))[1], name) != value:
            await asyncio.sleep(0.1)
    return text


async def talk(user: Any, text: str) -> None:
    await user.say(text)
    assert await user.next_chat() == f"You said: {text}"


@pytest.mark.livekit
@needs_server
async def test_jobs_spread_over_processes_and_metrics_add_up(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    # at most 3 jobs per process: six rooms can only all be served by both processes
    worker = start_worker(SUPPORT, "--workers", "2", "--max-jobs", "3", ready=False)
    state = await all_ready(worker)
    pids = {process["pid"] for process in state["processes"]}
    assert len(pids) == 2 and worker.process.pid not in pids
    names = {f"spread-{i}" for i in range(6)}
    users = [await join(room, "support-agent", identity=f"user-{room}") for room in sorted(names)]
    for user in users:
        await user.wait_agent(timeout=60)
        assert await user.next_chat() == GREETING
    by_process = await placed(worker, names)
    assert by_process == {0: by_process[0], 1: by_process[1]}
    assert len(by_process[0]) == len(by_process[1]) == 3, by_process
    ready = (await worker.get("/ready"))[1]
    assert ready["active_jobs"] == 6 and ready["max_jobs"] == 6 and ready["load"] == 1.0
    # one tool call per room: 3 counted in each process, 6 in the sum; the gauge adds up too
    for user in users:
        threaded_openai.push(ToolCalls([("lookup_order", '{"order_id": "A1002"}')]))
        await user.say("where is my order A1002?")
        assert '"status": "processing"' in await user.next_chat()
    text = await metric_reaches(worker, "lkx_tool_calls_total", 6)
    assert metric(text, RUNNING) == 6
    assert metric(text, "lkx_worker_processes") == 2
    for user in users:
        await user.leave()
    text = await metric_reaches(worker, RUNNING, 0)
    ended = sum(
        metric(text, f'lkx_jobs_total{{outcome="{outcome}"}}')
        for outcome in ("success", "terminated")
    )
    async with asyncio.timeout(30):  # the job's end is counted as it leaves the room
        while ended < 6:
            text = (await worker.get("/metrics"))[1]
            ended = sum(
                metric(text, f'lkx_jobs_total{{outcome="{outcome}"}}')
                for outcome in ("success", "terminated")
            )
            await asyncio.sleep(0.1)
    assert ended == 6


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("a worker process killed mid-conversation")
async def test_killed_process_is_restarted_and_the_other_goes_on(
    start_worker: Any, join: Any
) -> None:
    worker = start_worker(SUPPORT, "--workers", "2", "--max-jobs", "1", ready=False)
    state = await all_ready(worker)
    users = {
        room: await join(room, "support-agent", identity=room) for room in ("kill-a", "kill-b")
    }
    for user in users.values():
        await user.wait_agent(timeout=60)
        assert await user.next_chat() == GREETING
    by_process = await placed(worker, set(users))
    victim = next(index for index, rooms in by_process.items() if "kill-a" in rooms)
    pid = state["processes"][victim]["pid"]
    survivor = users["kill-b"]
    await talk(survivor, "before")
    os.kill(pid, signal.SIGKILL)  # it dies without a word, as from the OOM killer
    await worker.until('"msg": "worker process died"')
    await talk(survivor, "during")  # the other process's conversation goes on
    state = await all_ready(worker)
    restarted = state["processes"][victim]
    assert restarted["restarts"] == 1 and restarted["pid"] != pid
    output = worker.output()
    assert '"room": "kill-a"' in output and "died" in output
    text = await metric_reaches(worker, "lkx_worker_process_restarts_total", 1)
    assert metric(text, 'lkx_jobs_total{outcome="failed"}') >= 1  # the job lost with it
    # new rooms are served (by the restarted process: the other one is full)
    late = await join("kill-c", "support-agent", identity="kill-c")
    await late.wait_agent(timeout=60)
    assert await late.next_chat() == GREETING
    await talk(late, "after")
    await talk(survivor, "still here")


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("SIGTERM or Ctrl-C to the supervisor with jobs running in both processes")
@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm", "ctrl-c"])
async def test_sigterm_drains_every_process_then_exits_0(
    start_worker: Any, join: Any, ctrl_c: bool
) -> None:
    """Ctrl-C in a terminal is SIGINT to the whole process group: each process heard it, and
    the supervisor's SIGTERM after it, as two, and ended its conversation at once."""
    worker = start_worker(SUPPORT, "--workers", "2", "--max-jobs", "1", ready=False)
    await all_ready(worker)
    users = [await join(room, "support-agent", identity=room) for room in ("drain-a", "drain-b")]
    for user in users:
        await user.wait_agent(timeout=60)
        assert await user.next_chat() == GREETING
    assert sorted(map(len, (await placed(worker, {"drain-a", "drain-b"})).values())) == [1, 1]
    if ctrl_c:
        os.killpg(worker.process.pid, signal.SIGINT)
    else:
        worker.signal(signal.SIGTERM)
    await worker.until('"msg": "draining"', count=2)  # each process drains
    assert (await worker.get("/ready"))[0] == 503
    assert (await worker.get("/live"))[0] == 200
    for user in users:  # both conversations go on while draining
        await talk(user, "still there?")
    late = await join("drain-late", "support-agent", identity="late")
    for user in users:
        await user.leave()
    assert await worker.exited(60) == 0
    assert sorted(worker.jobs_started()) == ["drain-a", "drain-b"]
    assert late.agent() is None


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("a second SIGTERM to the supervisor while its processes drain")
async def test_a_second_signal_stops_every_process_now(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT, "--workers", "2", ready=False)  # drain timeout: 60 s
    await all_ready(worker)
    user = await join("hurry-room", "support-agent")
    await user.wait_agent(timeout=60)
    worker.signal(signal.SIGTERM)
    await worker.until('"msg": "draining"', count=2)
    worker.signal(signal.SIGTERM)
    assert await worker.exited(20) == 0
    output = worker.output()
    assert "stopping every worker process now" in output
    assert "stopping now: ending jobs" in output  # the process that had the job
    assert "Traceback" not in output


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("refused worker credentials, several processes")
def test_refused_credentials_stop_every_process_with_exit_4(start_worker: Any) -> None:
    """The first process starts alone: its error is the supervisor's, said once."""
    worker = start_worker(
        SUPPORT, "--workers", "2", ready=False, env={"LIVEKIT_API_SECRET": "x" * 40}
    )
    assert worker.wait(60) == 4
    output = worker.output()
    assert output.count("refused the API key or secret") == 1, output
    assert "Traceback" not in output and "x" * 40 not in output


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("SIGKILL of the supervisor")
async def test_killed_supervisor_leaves_no_worker_process_behind(start_worker: Any) -> None:
    worker = start_worker(SUPPORT, "--workers", "2", ready=False)
    state = await all_ready(worker)
    pids = [process["pid"] for process in state["processes"]]
    worker.signal(signal.SIGKILL)
    async with asyncio.timeout(60):  # each gets SIGTERM from the kernel and drains (no jobs)
        while any(alive(pid) for pid in pids):
            await asyncio.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
