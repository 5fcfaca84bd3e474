"""The session's events: any number of listeners, none able to cut another off, and
``events()`` keeps what happens between the call and the first ``async for`` step."""

from __future__ import annotations

import asyncio
from typing import Any

from livekitex_cli.session import AgentSession
from livekitex_cli.testing import ScriptedOpenAI
from tests.session.conftest import ask, openai_agent


async def test_events_registered_at_the_call(openai_server: ScriptedOpenAI) -> None:
    async with AgentSession(agent=openai_agent()) as session:
        stream = session.events()  # nothing iterates yet
        await ask(session, "hello")  # the whole turn happens before the first step
        seen = []
        async with asyncio.timeout(5):
            async for event in stream:
                seen.append(event.type)
                if event.type == "agent_reply":
                    break
    assert seen[0] == "state_changed" and "agent_reply" in seen


async def test_many_listeners_and_a_failing_one(openai_server: ScriptedOpenAI) -> None:
    replies: list[str] = []
    everything: list[str] = []
    session = AgentSession(
        agent=openai_agent(), event_callbacks={"*": lambda e: everything.append("slot")}
    )

    def broken(_: Any) -> None:
        raise RuntimeError("a listener bug")

    session.on("*", broken)
    session.on("agent_reply", lambda e: replies.append(e.text))
    remove = session.on("*", lambda e: everything.append("listener"))
    session.callbacks["*"] = lambda e: everything.append("replaced slot")  # the user's slot
    async with session:
        await ask(session, "hello")
        assert replies == ["You said: hello"]
        assert "listener" in everything and "replaced slot" in everything
        assert "slot" not in everything
        remove()
        count = everything.count("listener")
        await ask(session, "again")
        assert everything.count("listener") == count
        assert replies == ["You said: hello", "You said: again"]


async def test_iterator_ends_when_the_session_closes(openai_server: ScriptedOpenAI) -> None:
    session = AgentSession(agent=openai_agent())
    await session.start()
    stream = session.events()
    await session.aclose()
    async with asyncio.timeout(5):
        rest = [event.type async for event in stream]
    assert rest[-1] == "state_changed"
    late = [event async for event in session.events()]  # made after the close: ends at once
    assert late == []
