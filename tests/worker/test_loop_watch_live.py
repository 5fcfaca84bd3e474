"""A blocked event loop is seen and contained, against the real LiveKit server: an agent whose
async tool calls ``time.sleep`` (a blocking call) is named in one warning per episode with the
stack of the blocking frame, counted in /metrics, and its job ended and reported failed when it
keeps blocking; with ``isolation: process`` its jobs block only their own process."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing.distributions import write_tool_distribution
from tests.livekit_server import needs_server
from tests.worker.conftest import WorkerProcess
from tests.worker.test_worker_live import metric

pytestmark = [needs_server, pytest.mark.livekit]
TOOL = '''import time

from livekitex_cli.tools import function_tool


@function_tool(timeout=120)
async def block_loop(seconds: float) -> str:
    """Wait, the wrong way: a blocking call in an async tool."""
    time.sleep(seconds)
    return "slept"
'''
AGENT = """name: {name}
instructions: Test.
greeting: I am {name}.
tools: [block_loop]
llm: {{provider: openai, model: m}}
worker: {worker}
"""
BLOCKED = 'lkx_event_loop_blocked_total{{agent="{agent}"}}'
EPISODES = 'lkx_event_loop_blocked_seconds_count{{agent="{agent}"}}'


def agents(folder: Path, **workers: str) -> dict[str, str]:
    """Agent files by name (each with its ``worker:`` section) in ``folder/agents``, and the
    environment that finds the ``block_loop`` tool."""
    plugin = folder / "plugin"
    plugin.mkdir()
    write_tool_distribution(
        plugin, name="blocking-tools", module="blocking_tools", source=TOOL,
        tools={"block_loop": "blocking_tools:block_loop"},
    )  # fmt: skip
    (folder / "agents").mkdir()
    for name, worker in workers.items():
        (folder / "agents" / f"{name}.yaml").write_text(AGENT.format(name=name, worker=worker))
    path = os.pathsep.join(p for p in (str(plugin), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "LKX_LOOP_LAG": "1"}  # a busy machine's hiccups stay under it


def warnings(worker: WorkerProcess) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    return [line for line in lines if line["msg"] == "event loop blocked"]


@pytest.mark.parametrize("isolation", ["none", "process"])
async def test_a_blocking_tool_is_named_counted_and_its_job_ended(
    start_worker: Any, join: Any, tmp_path: Path, isolation: str
) -> None:
    env = agents(tmp_path, blocker=f"{{loop_block_limit: 2, isolation: {isolation}}}")
    worker = start_worker(str(tmp_path / "agents"), env=env)
    user = await join("blocking-room", "blocker")
    assert await user.next_chat() == "I am blocker."
    _, before = await worker.get("/metrics")
    assert metric(before, BLOCKED.format(agent="blocker")) == 0

    await user.say('call block_loop {"seconds": 2}')
    assert await user.next_chat() == "The tool said: slept"
    await worker.until('"msg": "event loop unblocked"')
    _, state = await worker.get("/worker")
    [job] = state["agents"][0]["jobs"]
    assert job["state"] == "running"  # one episode is seen, not punished
    [warning] = warnings(worker)
    assert (warning["agent"], warning["tool"], warning["job_id"]) == (
        "blocker",
        "block_loop",
        job["id"],
    )
    innermost = warning["stack"].strip().splitlines()[-2:]  # the blocking frame, last
    assert "blocking_tools.py" in innermost[0] and "in block_loop" in innermost[0]
    assert innermost[1].strip() == "time.sleep(seconds)"
    _, after = await worker.get("/metrics")
    assert metric(after, BLOCKED.format(agent="blocker")) == 1
    assert metric(after, EPISODES.format(agent="blocker")) == 1

    await user.say('call block_loop {"seconds": 2}')  # twice within the window: ended
    await worker.until('"msg": "job ended"')
    _, state = await worker.get("/worker")
    [ended] = state["agents"][0]["jobs"]  # failed jobs stay listed, with their reason
    assert (ended["id"], ended["state"]) == (job["id"], "failed")
    assert ended["error"].startswith("blocked the event loop 2 times within 60 s")
    assert "in tool 'block_loop'" in ended["error"]
    assert state["jobs_total"] == {"failed": 1}
    _, final = await worker.get("/metrics")
    assert metric(final, BLOCKED.format(agent="blocker")) == 2
    assert metric(final, 'lkx_jobs_total{outcome="failed"}') == 1
    assert len(warnings(worker)) == 2  # one warning per episode
    assert ('"msg": "job process started"' in worker.output()) == (isolation == "process")


async def test_an_isolated_agent_blocking_does_not_stall_another_agent(
    start_worker: Any, join: Any, tmp_path: Path
) -> None:
    env = agents(tmp_path, blocker="{isolation: process}", chatty="{}")
    worker = start_worker(str(tmp_path / "agents"), env=env)
    blocked = await join("blocked-room", "blocker", identity="blocked-user")
    chatting = await join("chatting-room", "chatty", identity="chatting-user")
    assert await blocked.next_chat() == "I am blocker."
    assert await chatting.next_chat() == "I am chatty."
    await blocked.say('call block_loop {"seconds": 60}')  # far longer than the bound below
    await worker.until('"msg": "event loop blocked"')
    await chatting.say("are you there?")
    assert await chatting.next_chat(timeout=30) == "You said: are you there?"
    assert "event loop unblocked" not in worker.output()  # the other job still blocks
    [warning] = warnings(worker)
    assert (warning["agent"], warning["tool"]) == ("blocker", "block_loop")
    # Ctrl-C twice: the blocked job's process cannot leave its room; it is killed at once
    # instead of after STOP_GRACE (10 s)
    worker.signal(signal.SIGINT)
    await worker.until('"msg": "draining"')
    worker.signal(signal.SIGINT)
    assert await worker.exited(7) == 0
    assert "job process did not end, killing it" in worker.output()
