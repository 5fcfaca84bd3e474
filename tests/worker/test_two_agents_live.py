"""Two agents in one ``lkx start`` worker, each dispatched to its own room at the same moment,
against the real LiveKit server: both come, each as itself, and both answer at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import needs_server

AGENTS = {  # agent file: (name, greeting)
    "agents/support-agent.yaml": (
        "support-agent",
        "Hello! I can check an order or open a support ticket. What can I do for you?",
    ),
    "agents/receptionist.yaml": ("receptionist", "Welcome to the shop! How can I help you today?"),
}


@pytest.mark.livekit
@needs_server
async def test_two_agents_of_one_worker_take_jobs_at_once(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    worker = start_worker(*AGENTS)
    _, state = await worker.get("/worker")
    assert sorted(agent["name"] for agent in state["agents"]) == ["receptionist", "support-agent"]
    names = [name for name, _ in AGENTS.values()]
    # both rooms made and dispatched at the same moment, one to each agent
    users = await asyncio.gather(*(join(f"room-of-{name}", name) for name in names))
    agents = await asyncio.gather(*(user.wait_agent() for user in users))
    assert [agent.attributes["lk.agent.name"] for agent in agents] == names
    greetings = await asyncio.gather(*(user.next_chat() for user in users))
    assert greetings == [greeting for _, greeting in AGENTS.values()]
    pairs = zip(users, names, strict=True)
    await asyncio.gather(*(user.say(f"hello {name}") for user, name in pairs))
    replies = await asyncio.gather(*(user.next_chat() for user in users))
    assert replies == [f"You said: hello {name}" for name in names]
    _, state = await worker.get("/worker")
    jobs = {agent["name"]: [job["room"] for job in agent["jobs"]] for agent in state["agents"]}
    assert jobs == {name: [f"room-of-{name}"] for name in names}
