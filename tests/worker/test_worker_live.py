"""``lkx start`` against the real LiveKit server: registration, dispatch, chat, capacity, drain,
server restarts and health endpoints."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, ToolCalls
from tests.livekit_server import SECRET, LiveKitServer, closed_port, needs_server
from tests.worker.conftest import WorkerProcess

SUPPORT = "agents/support-agent.yaml"
GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"


def metric(text: str, name: str) -> float:
    """One sample of the Prometheus text, by its name with labels."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match is not None, f"no {name} in /metrics:\n{text}"
    return float(match.group(1))


TOOL_CALLS = "lkx_tool_calls_total"
TTFT_COUNT = 'lkx_stage_latency_ms_count{stage="llm_ttft_ms"}'
RESPONSE_COUNT = 'lkx_stage_latency_ms_count{stage="response_time_ms"}'


@pytest.mark.livekit
@needs_server
async def test_dispatch_join_and_chat(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    worker = start_worker(SUPPORT)
    status, state = await worker.get("/worker")
    assert status == 200 and state["registered"] and state["agents"][0]["name"] == "support-agent"
    user = await join("chat-room", "support-agent")
    agent = await user.wait_agent()
    assert agent.attributes.get("lk.agent.name") == "support-agent"
    assert await user.next_chat() == GREETING
    await user.say("hello there")
    assert await user.next_chat() == "You said: hello there"
    _, before = await worker.get("/metrics")
    threaded_openai.push(ToolCalls([("lookup_order", '{"order_id": "A1002"}')]))
    await user.say("where is my order A1002?")
    answer = await user.next_chat()
    assert '"status": "processing"' in answer
    assert agent.attributes.get("lk.agent.state") in ("listening", "speaking", "thinking")
    _, ready = await worker.get("/ready")
    assert ready["active_jobs"] == 1 and ready["max_jobs"] == 50
    async with asyncio.timeout(10):  # the turn's figures land as the reply goes out
        while metric((after := (await worker.get("/metrics"))[1]), RESPONSE_COUNT) == metric(
            before, RESPONSE_COUNT
        ):
            await asyncio.sleep(0.05)
    # one turn with one tool call: each counter moved by exactly one
    assert metric(after, TOOL_CALLS) == metric(before, TOOL_CALLS) + 1
    assert metric(after, TTFT_COUNT) == metric(before, TTFT_COUNT) + 1
    assert metric(after, RESPONSE_COUNT) == metric(before, RESPONSE_COUNT) + 1
    assert metric(after, 'lkx_jobs_running{agent="support-agent"}') == 1
    # the job's join went through the gate and left it
    assert metric(after, 'lkx_room_joins{state="connecting"}') == 0
    assert metric(after, 'lkx_room_joins{state="waiting"}') == 0
    assert metric(before, TOOL_CALLS) == 0 and metric(before, TTFT_COUNT) >= 1
    _, state_text = await worker.get("/worker")
    assert SECRET not in json.dumps(state_text) + after  # the health server shows no secret
    await user.leave()
    await worker.until('"msg": "job ended"')
    _, state = await worker.get("/worker")
    # ended by itself as its user left, or by the server's termination if that came first
    assert state["jobs_total"] in ({"success": 1}, {"terminated": 1}), state["jobs_total"]
    _, final = await worker.get("/metrics")
    assert metric(final, TOOL_CALLS) == 1  # kept once the job has ended
    assert "lkx-test-secret" not in worker.output()


@pytest.mark.livekit
@needs_server
async def test_capacity_is_never_exceeded(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT, "--max-jobs", "2")
    users = [await join(f"cap-{i}", "support-agent", identity=f"user{i}") for i in range(3)]
    async with asyncio.timeout(60):  # two of the three get an agent
        while len(served := [u for u in users if u.agent() is not None]) < 2:
            await asyncio.sleep(0.05)
    _, ready = await worker.get("/ready")
    assert ready["active_jobs"] == 2 and ready["load"] == 1.0
    _, state = await worker.get("/worker")
    assert len(state["agents"][0]["jobs"]) == 2
    # drain and end: only then is it certain that the third room never got a job
    worker.signal(signal.SIGTERM)
    await worker.until('"msg": "draining"')
    for user in served:
        await user.leave()
    assert await worker.exited(60) == 0
    assert sorted(worker.jobs_started()) == sorted(u.room.name for u in served)
    assert [u for u in users if u not in served][0].agent() is None


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("SIGTERM with jobs running")
async def test_sigterm_drains_running_jobs_then_exits_0(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT)
    user = await join("drain-room", "support-agent")
    await user.wait_agent()
    assert await user.next_chat() == GREETING
    worker.signal(signal.SIGTERM)
    await worker.until('"msg": "draining"')
    status, _ = await worker.get("/ready")
    assert status == 503  # not ready while draining
    await user.say("still there?")
    assert await user.next_chat() == "You said: still there?"  # the running job goes on
    late = await join("late-room", "support-agent", identity="late")
    await user.leave()
    assert await worker.exited(30) == 0
    assert worker.jobs_started() == ["drain-room"]  # nothing new was taken while draining
    assert late.agent() is None


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("drain timeout with a job still running")
@pytest.mark.parametrize("background", [False, True], ids=["terminal", "script-background"])
async def test_drain_timeout_ends_jobs(start_worker: Any, join: Any, background: bool) -> None:
    """SIGINT drains ``lkx start``, also one started in the background of a script (SIGINT
    ignored from its start, as a supervised child is): only a supervisor's child leaves
    SIGINT to its supervisor."""
    handler = signal.SIG_IGN if background else signal.default_int_handler
    before = signal.signal(signal.SIGINT, handler)  # what the child inherits
    try:
        worker = start_worker(SUPPORT, "--drain-timeout", "1")
    finally:
        signal.signal(signal.SIGINT, before)
    user = await join("slow-drain", "support-agent")
    await user.wait_agent()
    worker.signal(signal.SIGINT)
    assert await worker.exited(20) == 0
    assert "drain timeout: ending jobs" in worker.output()


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("a second Ctrl-C while draining")
async def test_a_second_signal_while_draining_ends_the_jobs_at_once(
    start_worker: Any, join: Any
) -> None:
    worker = start_worker(SUPPORT)  # drain timeout: 60 s
    user = await join("impatient-room", "support-agent")
    await user.wait_agent()
    worker.signal(signal.SIGINT)
    await worker.until('"msg": "draining"')
    worker.signal(signal.SIGINT)  # Ctrl-C again: no waiting for the conversation to end
    assert await worker.exited(15) == 0
    assert "stopping now: ending jobs" in worker.output()
    assert "Traceback" not in worker.output()


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("LiveKit server killed and restarted")
async def test_server_restart_reregisters(
    start_worker: Any, join: Any, livekit_server: LiveKitServer
) -> None:
    worker = start_worker(SUPPORT)
    await asyncio.to_thread(livekit_server.kill)
    await worker.until("connection to the server lost", timeout=30)
    status, _ = await worker.get("/health")
    assert status == 503
    await asyncio.to_thread(livekit_server.start)
    await worker.until('"msg": "worker registered"', count=2, timeout=40)
    assert (await worker.get("/health"))[0] == 200
    user = await join("after-restart", "support-agent")
    await user.wait_agent()
    assert await user.next_chat() == GREETING


@pytest.mark.livekit
@needs_server
@pytest.mark.fault("refused worker credentials")
def test_refused_credentials_exit_4(start_worker: Any) -> None:
    worker = start_worker(SUPPORT, ready=False, env={"LIVEKIT_API_SECRET": "x" * 40})
    assert worker.wait(30) == 4
    output = worker.output()
    assert "refused the API key or secret" in output and "Traceback" not in output
    assert "x" * 40 not in output


@pytest.mark.fault("unreachable LiveKit server")
def test_unreachable_server_exit_3(tmp_path: Path, threaded_openai: ScriptedOpenAI) -> None:
    with closed_port() as port:  # needs no LiveKit server: none answers
        env = {**os.environ, "LIVEKIT_URL": f"ws://127.0.0.1:{port}",
               "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 40}  # fmt: skip
        worker = WorkerProcess([SUPPORT], env, tmp_path / "worker.log")
        try:
            assert worker.wait(60) == 3
        finally:
            worker.stop()
        assert f"cannot reach ws://127.0.0.1:{port}/agent" in worker.output()


@pytest.mark.livekit
@needs_server
async def test_chat_is_taken_in_the_order_it_began_to_arrive(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    """A long message still streaming in when a short one has arrived whole comes first: the
    agent's readers run side by side and finish in any order."""
    start_worker(SUPPORT)
    user = await join("order-room", "support-agent")
    await user.wait_agent()
    assert await user.next_chat() == GREETING
    local = user.room.local_participant
    writer = await local.stream_text(topic="lk.chat")
    await writer.write("first, a long message ")
    await asyncio.sleep(0.5)  # its end is still to come when the second one is sent whole
    await user.say("second, a short one")
    await asyncio.sleep(0.5)
    await writer.write("that took its time")
    await writer.aclose()
    answers = [await user.next_chat(timeout=30)]
    if "that took its time" not in answers[0] or "second" not in answers[0]:
        answers.append(await user.next_chat(timeout=30))  # answered as two turns
    heard = "\n".join(answer.removeprefix("You said: ") for answer in answers)
    assert heard == "first, a long message that took its time\nsecond, a short one", answers


@pytest.mark.livekit
@needs_server
async def test_a_user_back_on_a_new_connection_keeps_the_agent(
    start_worker: Any, join: Any
) -> None:
    """The same identity joining again (a reloaded page, an app reconnecting) pushes the old
    connection out (the agent is told no reason): a drop, not a hang-up, so the agent stays and
    answers the new connection; the user leaving for good (CLIENT_INITIATED) then ends the job.
    Before, any leave ended it, and the user came back to a room no agent was in (checked: this
    test fails on the old code)."""
    worker = start_worker(SUPPORT)
    first = await join("back-room", "support-agent")
    await first.wait_agent()
    assert await first.next_chat() == GREETING
    second = await join("back-room")  # the same identity, no new dispatch
    await worker.until('"msg": "linked participant dropped')
    await second.wait_agent()
    await second.say("I am back")
    assert await second.next_chat() == "You said: I am back"
    await second.leave()
    await worker.until('"msg": "job ended"')
    assert "linked participant left, ending the job" in worker.output()
    assert worker.jobs_started() == ["back-room"]
