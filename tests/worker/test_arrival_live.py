"""An agent dispatched before its user is in the room waits for the user before it speaks:
LiveKit gives text only to participants already there, so a greeting said into an empty
room is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from livekit import api

from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import LiveKitServer, needs_server
from tests.worker.conftest import join_room
from tests.worker.test_worker_live import GREETING, SUPPORT


@pytest.mark.livekit
@needs_server
async def test_a_user_who_comes_after_the_agent_is_greeted(
    start_worker: Any,
    livekit_server: LiveKitServer,
    livekit_api: api.LiveKitAPI,
    threaded_openai: ScriptedOpenAI,
) -> None:
    worker = start_worker(SUPPORT)
    await livekit_api.room.create_room(api.CreateRoomRequest(name="late-user"))
    await livekit_api.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name="support-agent", room="late-user")
    )
    async with asyncio.timeout(60):  # the agent is in the room, alone
        listing = api.ListParticipantsRequest(room="late-user")
        while not (await livekit_api.room.list_participants(listing)).participants:
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # time enough for a greeting to be said, and lost, if not held
    user = await join_room(livekit_api, livekit_server.url, "late-user", None, "late")
    try:
        await user.wait_agent(timeout=30)
        assert await user.next_chat(timeout=30) == GREETING
        await user.say("made it")
        assert await user.next_chat(timeout=30) == "You said: made it"
        assert '"msg": "waiting for the user to join"' in worker.output()
        assert [sender for sender, _ in user.heard].count(user.agent().identity) == 2  # type: ignore[union-attr]
    finally:
        await user.leave()
