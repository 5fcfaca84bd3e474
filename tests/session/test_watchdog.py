"""A silent agent is ended: stalls (no LLM token, no TTS audio) and empty completions give a
named error, the fallback line, and a session back to listening."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from livekitex_cli.session import PacedOutput
from livekitex_cli.testing import Empty, Hang, ScriptedOpenAI, Text, ToolCalls
from livekitex_cli.tools import ToolRegistry
from tests.session.conftest import ask, openai_agent

FAST = {"stall_timeout": 0.6}


async def _back_to_normal(session: Any, events: Any) -> None:
    assert session.state == "listening"
    await ask(session, "are you still there?")
    assert events.of("agent_reply")[-1].text == "You said: are you still there?"


@pytest.mark.fault("LLM stream hangs mid-sentence (stall watchdog)")
async def test_llm_hanging_mid_stream_is_a_named_stall(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    # the provider would wait 5 s per chunk; the watchdog gives up after 0.6 s of nothing
    agent = openai_agent(llm={"timeout": 5, "max_retries": 0}, turn=FAST)
    session, events = await session_factory(agent)
    openai_server.push(Text("It is sunny in Paris and", chunk_chars=12, delay=3.0))
    await ask(session, "hi", timeout=4)
    error = events.of("error")[0]
    assert (error.service, error.reason) == ("llm openai", "stalled")
    reply = events.of("agent_reply")[-1].text
    assert reply.startswith("It is sunny") and reply.endswith(session.agent.spec.fallback_line)
    assert session.metrics()["stalls"] == 1
    await _back_to_normal(session, events)


@pytest.mark.fault("LLM never sends a first token (stall watchdog)")
async def test_llm_silent_while_thinking_is_a_stall(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    agent = openai_agent(llm={"timeout": 5, "max_retries": 0}, turn=FAST)
    session, events = await session_factory(agent)
    openai_server.push(Hang(3.0))
    states: list[str] = []
    session.on("state_changed", lambda event: states.append(event.new))
    await ask(session, "hi", timeout=4)
    assert events.of("error")[0].reason == "stalled"
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    assert states[:2] == ["thinking", "speaking"] and states[-1] == "listening"
    await _back_to_normal(session, events)


@pytest.mark.fault("TTS hangs (stall watchdog)")
async def test_tts_hanging_is_a_stall(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    from livekitex_cli.testing.openai_server import Hang as TTSHang

    agent = openai_agent(voice=True, turn=FAST)
    session, events = await session_factory(agent, audio_output=PacedOutput(realtime=False))
    openai_server.tts_script.append(TTSHang(3.0))
    await ask(session, "hi", timeout=4)
    error = events.of("error")[0]
    assert (error.service, error.reason) == ("tts openai", "stalled")
    said = [text.strip() for text in openai_server.tts_requests]
    assert said == ["You said: hi", session.agent.spec.fallback_line]
    assert events.of("agent_audio"), "the fallback line is spoken"
    await _back_to_normal(session, events)


async def test_a_slow_tool_is_not_a_stall(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    import asyncio

    async def slow_lookup() -> str:
        """Look something up slowly."""
        await asyncio.sleep(1.2)
        return "found it"

    registry = ToolRegistry([slow_lookup])

    agent = openai_agent(tools=["slow_lookup"], registry=registry, turn=FAST)
    session, events = await session_factory(agent)
    openai_server.push(ToolCalls([("slow_lookup", "{}")]))
    await ask(session, "look it up")
    assert events.of("error") == []
    assert events.of("agent_reply")[-1].text == "The tool said: found it"


@pytest.mark.fault("LLM answers with an empty completion")
async def test_empty_completion_is_retried_without_tools_then_fallback(
    openai_server: ScriptedOpenAI, session_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def lookup() -> str:
        """Look something up."""
        return "x"

    registry = ToolRegistry([lookup])

    agent = openai_agent(tools=["lookup"], registry=registry)
    session, events = await session_factory(agent)
    openai_server.push(Empty(), Empty())
    with caplog.at_level(logging.WARNING, logger="livekitex"):
        await ask(session, "hi")
    first, second = openai_server.chat_requests[:2]
    assert first.get("tools") and not second.get("tools")  # asked again without tools
    error = events.of("error")[0]
    assert (error.service, error.reason) == ("llm openai", "empty_completion")
    assert "req_scripted_2" in error.message  # the server's request id
    ids = [getattr(r, "request_id", None) for r in caplog.records]
    assert ids.count("req_scripted_1") == 1 and ids.count("req_scripted_2") == 1
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    assert session.metrics()["empty_completions"] == 2
    await _back_to_normal(session, events)


async def test_empty_completion_then_an_answer_without_tools(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent())
    openai_server.push(Empty(), Text("Here I am."))
    await ask(session, "hi")
    assert events.of("agent_reply")[-1].text == "Here I am."
    assert events.of("error") == []
    assert session.metrics()["empty_completions"] == 1
