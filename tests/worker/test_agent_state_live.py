"""``lk.agent.state`` reaches the room and stays there: the one thing a front end waits for
before it talks. Through the real server: the agent's state, removed from its participant by
someone else (the server API here; a lost update looks the same to a front end), comes back."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from livekit import api, rtc

from livekitex_cli.agent import load_agents
from livekitex_cli.session import AgentSession
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker.agent_state import AgentState
from livekitex_cli.worker.dispatch import Server
from livekitex_cli.worker.joining import connect_room
from tests.livekit_server import KEY, SECRET, LiveKitServer, needs_server

pytestmark = [needs_server, pytest.mark.livekit]
AGENT = "name: quiet\ninstructions: Echo.\nllm: {provider: openai, model: m}\n"  # no greeting
AGENT_KIND = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def agent_connection(server: LiveKitServer, room: str, *, may_update: bool) -> rtc.Room:
    """An agent's own connection to ``room`` (``may_update``: its token lets it change its
    own attributes), for an ``AgentState`` driven by the test."""
    grants = api.VideoGrants(room_join=True, room=room, can_update_own_metadata=may_update)
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity(f"agent-{room}")
        .with_kind("agent")
        .with_grants(grants)
        .to_jwt()
    )
    connection = rtc.Room()
    await connect_room(connection, server.url, token, timeout=30)
    return connection


def state_seen_by(user: Any) -> str | None:
    """The agent's ``lk.agent.state`` as ``user`` sees it."""
    found = [p for p in user.room.remote_participants.values() if p.kind == AGENT_KIND]
    return found[0].attributes.get("lk.agent.state") if found else None


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


async def test_a_state_the_agents_own_connection_cannot_send_goes_through_the_server_api(
    livekit_server: LiveKitServer,
    join: Any,
    threaded_openai: ScriptedOpenAI,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server refuses an agent's own updates (here its token may not change its own
    attributes; in a two-node cluster one agent's seven tries all went unanswered): from the
    third try the state goes through the server's API, and lands. An agent without the
    server's key (``connect_to_room`` alone) keeps trying its own connection, and does not."""
    monkeypatch.setenv("OPENAI_BASE_URL", threaded_openai.base_url)
    (agent,) = load_agents([str(write(tmp_path / "quiet.yaml", AGENT))])
    states: list[AgentState] = []
    rooms: list[rtc.Room] = []
    users = []
    try:
        for name, server in (
            ("api-room", Server(livekit_server.url, KEY, SECRET)), ("no-api-room", None)
        ):  # fmt: skip
            users.append(await join(name))
            room = await agent_connection(livekit_server, name, may_update=False)
            rooms.append(room)
            state = AgentState(room, AgentSession(agent=agent, speak=False), server=server)
            states.append(state)
            asyncio.get_running_loop().create_task(state.run())
            state.set("listening")

        with caplog.at_level(logging.INFO, logger="livekitex.worker"):
            async with asyncio.timeout(60):
                while state_seen_by(users[0]) != "listening":
                    await asyncio.sleep(0.05)
        assert "sending the agent's state through the server API" in caplog.text
        assert state_seen_by(users[1]) is None  # refused on its own connection, every time so far
        assert states[1]._tries >= 2
    finally:
        for state in states:
            state.close()
            await state.session.aclose()
        for room in rooms:
            await room.disconnect()


async def test_an_update_that_returns_late_does_not_hold_back_the_next_state(
    livekit_server: LiveKitServer,
    join: Any,
    threaded_openai: ScriptedOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """livekit's ``set_attributes`` at times returns only after its 5 s request timeout, the
    update applied long before (a ``listening`` queued behind such a ``speaking`` reached the
    room 3.6 s after the voice had ended). Here every update returns 8 s late, as that one
    did: each next state still goes out once the server has echoed the one before."""
    monkeypatch.setenv("OPENAI_BASE_URL", threaded_openai.base_url)
    (agent,) = load_agents([str(write(tmp_path / "quiet.yaml", AGENT))])
    user = await join("late-room")
    room = await agent_connection(livekit_server, "late-room", may_update=True)
    send = room.local_participant.set_attributes

    async def returns_late(attributes: dict[str, str]) -> None:
        await send(attributes)
        await asyncio.sleep(8.0)

    monkeypatch.setattr(room.local_participant, "set_attributes", returns_late)
    state = AgentState(room, AgentSession(agent=agent, speak=False))
    runner = asyncio.get_running_loop().create_task(state.run())

    try:
        for wanted in ("speaking", "listening", "thinking"):
            state.set(wanted)
            async with asyncio.timeout(4):  # 8 s if it waited for the return
                while state_seen_by(user) != wanted:
                    await asyncio.sleep(0.02)
    finally:
        runner.cancel()
        state.close()
        await state.session.aclose()
        await room.disconnect()
