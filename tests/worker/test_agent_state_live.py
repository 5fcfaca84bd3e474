"""``lk.agent.state`` reaches the room and stays there: the one thing a front end waits for
before it talks. Through the real server: the agent's state, removed from its participant by
someone else (the server API here; a lost update looks the same to a front end), comes back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from livekit import api

from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import needs_server

pytestmark = [needs_server, pytest.mark.livekit]
AGENT = "name: quiet\ninstructions: Echo.\nllm: {provider: openai, model: m}\n"  # no greeting


async def test_a_state_that_went_missing_is_sent_again(
    serve_agent: Any, livekit_api: api.LiveKitAPI, threaded_openai: ScriptedOpenAI
) -> None:
    # its one update: listening, and nothing after it
    user, agent, worker = await serve_agent(AGENT, "state-room")
    assert agent.attributes["lk.agent.state"] == "listening"
    # an empty value removes the attribute (LiveKit's UpdateParticipant)
    request = api.UpdateParticipantRequest(
        room="state-room", identity=agent.identity, attributes={"lk.agent.state": ""}
    )
    await livekit_api.room.update_participant(request)
    async with asyncio.timeout(10):
        while agent.attributes.get("lk.agent.state"):
            await asyncio.sleep(0.02)  # gone, as a front end sees it
    async with asyncio.timeout(15):
        while agent.attributes.get("lk.agent.state") != "listening":
            await asyncio.sleep(0.05)
    await worker.until("the agent's state did not reach the room, sent again")
    assert "never reached" not in worker.output()
    await user.say("still there?")  # and the conversation goes on
    assert await user.next_chat() == "You said: still there?"


async def test_a_state_that_lands_is_sent_once(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    """The check costs nothing when the update lands: the server's echo confirms it."""
    user, _, worker = await serve_agent(AGENT, "state-room-2", "--log-level", "debug")
    for text in ("one", "two"):
        await user.say(text)
        assert await user.next_chat() == f"You said: {text}"
    seen = len(worker.output())
    async with asyncio.timeout(15):  # the check of the last state sent, after the last reply
        while "agent state landed" not in worker.output()[seen:]:
            await asyncio.sleep(0.05)
    assert "did not reach the room" not in worker.output()
