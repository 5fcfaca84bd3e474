"""A handoff in a room through the real LiveKit server: ``lkx start`` serves the receptionist
and the support desk; the receptionist's transfer moves the same job to the support desk."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, ToolCalls
from tests.livekit_server import needs_server
from tests.worker.test_worker_live import metric

RECEPTION = "agents/receptionist.yaml"
SUPPORT = "agents/support-agent.yaml"
SUPPORT_GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"


@pytest.mark.livekit
@needs_server
async def test_handoff_in_a_room(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    worker = start_worker(RECEPTION, SUPPORT)
    user = await join("handoff-room", "receptionist")
    agent = await user.wait_agent()
    assert await user.next_chat() == "Welcome to the shop! How can I help you today?"
    threaded_openai.push(ToolCalls([("transfer_to_support_agent", '{"reason": "order"}')]))
    await user.say("I have a question about my order")
    assert await user.next_chat() == SUPPORT_GREETING
    offered = [t["function"]["name"] for t in threaded_openai.chat_requests[-1]["tools"]]
    assert offered == ["get_time", "transfer_to_support_agent"]
    async with asyncio.timeout(10):
        while agent.attributes.get("lk.agent.active") != "support-agent":
            await asyncio.sleep(0.05)
    assert agent.attributes.get("lk.agent.name") == "receptionist"  # the dispatched one stays
    threaded_openai.push(ToolCalls([("lookup_order", '{"order_id": "A1002"}')]))
    await user.say("where is my order A1002?")
    assert '"status": "processing"' in await user.next_chat()
    request = threaded_openai.chat_requests[-2]
    assert [t["function"]["name"] for t in request["tools"]] == ["lookup_order", "create_ticket"]
    assert request["messages"][0]["content"].startswith("You are the support desk")
    contents = [m.get("content") for m in request["messages"]]
    assert "I have a question about my order" in contents  # last_n: 4 keeps it
    _, text = await worker.get("/metrics")
    name = 'lkx_handoffs_total{from_agent="receptionist",to_agent="support-agent"}'
    assert metric(text, name) == 1
    await user.leave()
    await worker.until('"msg": "job ended"')
    _, state = await worker.get("/worker")
    # ended by the user leaving; the server's own termination of the job may come first (seen
    # once in three runs on a loaded machine), which the worker counts as terminated
    assert state["jobs_total"] in ({"success": 1}, {"terminated": 1})
