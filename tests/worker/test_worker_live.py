"""``lkx start`` against the real LiveKit server: registration, dispatch, chat, capacity, drain,
server restarts and health endpoints."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, ToolCalls
from tests.livekit_server import SECRET, LiveKitServer, needs_server

pytestmark = [needs_server, pytest.mark.livekit]
SUPPORT = "agents/support-agent.yaml"
GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"


async def test_dispatch_join_and_chat(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    worker = start_worker(SUPPORT)
    status, state = worker.health("/worker")
    assert status == 200 and state["registered"] and state["agents"][0]["name"] == "support-agent"
    user = await join("chat-room", "support-agent")
    agent = await user.wait_agent()
    assert agent.attributes.get("lk.agent.name") == "support-agent"
    assert await user.next_chat() == GREETING
    await user.say("hello there")
    assert await user.next_chat() == "You said: hello there"
    threaded_openai.push(ToolCalls([("lookup_order", '{"order_id": "A1002"}')]))
    await user.say("where is my order A1002?")
    answer = await user.next_chat()
    assert '"status": "processing"' in answer
    assert agent.attributes.get("lk.agent.state") in ("listening", "speaking", "thinking")
    _, ready = worker.health("/ready")
    assert ready["active_jobs"] == 1 and ready["max_jobs"] == 50
    _, metrics = worker.health("/metrics")
    assert 'lkx_jobs_running{agent="support-agent"} 1' in metrics
    assert 'lkx_stage_latency_ms_count{stage="llm_ttft_ms"}' in metrics
    _, state_text = worker.health("/worker")
    assert SECRET not in json.dumps(state_text) + metrics  # the health server shows no secret
    await user.leave()
    worker.wait_for('"msg": "job ended"')
    _, state = worker.health("/worker")
    assert state["jobs_total"] == {"success": 1}
    assert "lkx-test-secret" not in worker.output()


async def test_capacity_is_never_exceeded(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT, "--max-jobs", "2")
    users = [await join(f"cap-{i}", "support-agent", identity=f"user{i}") for i in range(3)]
    await asyncio.sleep(4)  # time for the server to offer every job
    served = [u for u in users if u.agent() is not None]
    assert len(served) == 2
    _, ready = worker.health("/ready")
    assert ready["active_jobs"] == 2 and ready["load"] == 1.0
    _, state = worker.health("/worker")
    assert len(state["agents"][0]["jobs"]) == 2


async def test_sigterm_drains_running_jobs_then_exits_0(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT)
    user = await join("drain-room", "support-agent")
    await user.wait_agent()
    assert await user.next_chat() == GREETING
    worker.signal(signal.SIGTERM)
    worker.wait_for('"msg": "draining"')
    status, _ = worker.health("/ready")
    assert status == 503  # not ready while draining
    await user.say("still there?")
    assert await user.next_chat() == "You said: still there?"  # the running job goes on
    late = await join("late-room", "support-agent", identity="late")
    await asyncio.sleep(2)
    assert late.agent() is None  # nothing new is taken
    await user.leave()
    assert worker.wait(30) == 0


async def test_drain_timeout_ends_jobs(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT, "--drain-timeout", "1")
    user = await join("slow-drain", "support-agent")
    await user.wait_agent()
    worker.signal(signal.SIGINT)
    assert worker.wait(20) == 0
    assert "drain timeout: ending jobs" in worker.output()


async def test_server_restart_reregisters(
    start_worker: Any, join: Any, livekit_server: LiveKitServer
) -> None:
    worker = start_worker(SUPPORT)
    livekit_server.kill()
    worker.wait_for("connection to the server lost", timeout=30)
    status, _ = worker.health("/health")
    assert status == 503
    livekit_server.start()
    worker.wait_for('"msg": "worker registered"', count=2, timeout=40)
    assert worker.health("/health")[0] == 200
    user = await join("after-restart", "support-agent")
    await user.wait_agent()
    assert await user.next_chat() == GREETING


def test_refused_credentials_exit_4(start_worker: Any) -> None:
    worker = start_worker(SUPPORT, ready=False, env={"LIVEKIT_API_SECRET": "x" * 40})
    assert worker.wait(30) == 4
    output = worker.output()
    assert "refused the API key or secret" in output and "Traceback" not in output
    assert "x" * 40 not in output


def test_unreachable_server_exit_3(start_worker: Any) -> None:
    worker = start_worker(SUPPORT, ready=False, env={"LIVEKIT_URL": "ws://127.0.0.1:9"})
    assert worker.wait(60) == 3
    assert "cannot reach ws://127.0.0.1:9/agent" in worker.output()
