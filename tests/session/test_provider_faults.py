"""Every provider fault over real HTTP: retried where it helps, then the fallback line."""

from __future__ import annotations

import time
from typing import Any

import pytest

from livekitex_cli.testing import (
    Hang,
    Malformed,
    Reset,
    ScriptedOpenAI,
    Status,
    Text,
    Truncated,
)
from tests.session.conftest import ask, openai_agent


async def _survives(session: Any, events: Any) -> None:
    """The next turn works normally."""
    await ask(session, "are you still there?")
    assert events.of("agent_reply")[-1].text == "You said: are you still there?"


async def test_500s_are_retried_then_succeed(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 2}))
    openai_server.push(Status(500), Status(503), Text("Third time lucky."))
    await ask(session, "hi")
    assert events.of("agent_reply")[-1].text == "Third time lucky."
    assert events.of("error") == []
    assert len(openai_server.chat_requests) == 3


async def test_persistent_500_gives_fallback_and_error_event(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    agent = openai_agent(llm={"max_retries": 1}, fallback_line="Our brain is offline.")
    session, events = await session_factory(agent)
    openai_server.push(Status(500), Status(500))
    await ask(session, "hi")
    error = events.of("error")[0]
    assert "HTTP 500" in error.message and error.recoverable
    assert events.of("agent_reply")[-1].text == "Our brain is offline."
    metrics = session.metrics()
    assert metrics["errors"] == 1 and metrics["errors_by_service"] == {"llm openai": 1}
    await _survives(session, events)


async def test_429_honours_retry_after(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 1}))
    openai_server.push(Status(429, "slow down", {"Retry-After": "0.4"}), Text("Now it works."))
    started = time.perf_counter()
    await ask(session, "hi")
    waited = time.perf_counter() - started
    assert events.of("agent_reply")[-1].text == "Now it works."
    assert len(openai_server.chat_requests) == 2
    assert waited >= 0.4  # the retry waited as told, not the default backoff


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(
    openai_server: ScriptedOpenAI, session_factory: Any, status: int
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 3}))
    openai_server.push(Status(status))
    await ask(session, "hi")
    assert len(openai_server.chat_requests) == 1
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    await _survives(session, events)


async def test_timeout_gives_fallback(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    session, events = await session_factory(openai_agent(llm={"timeout": 0.3, "max_retries": 0}))
    openai_server.push(Hang(2.0))
    await ask(session, "hi")
    assert "timed out" in events.of("error")[0].message
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    await _survives(session, events)


@pytest.mark.parametrize(
    "fault", [Reset(after_chunks=2), Malformed(after_chunks=2), Truncated(after_chunks=2)]
)
async def test_stream_cut_midway_keeps_what_was_said(
    openai_server: ScriptedOpenAI, session_factory: Any, fault: Any
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 2}))
    openai_server.push(fault)
    await ask(session, "hi")
    reply = events.of("agent_reply")[-1].text
    assert events.of("error"), "the fault must be reported"
    assert reply.endswith(session.agent.spec.fallback_line)
    assert len(reply) > len(session.agent.spec.fallback_line)  # the streamed words stay
    assert len(openai_server.chat_requests) == 1  # no retry once words were streamed
    await _survives(session, events)


@pytest.mark.parametrize("fault", [Reset(after_chunks=0), Malformed(after_chunks=0)])
async def test_fault_before_any_word_is_retried(
    openai_server: ScriptedOpenAI, session_factory: Any, fault: Any
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 1}))
    openai_server.push(fault, Text("Recovered."))
    await ask(session, "hi")
    assert events.of("agent_reply")[-1].text == "Recovered."
    assert len(openai_server.chat_requests) == 2


async def test_unreachable_server_gives_fallback(
    monkeypatch: pytest.MonkeyPatch, session_factory: Any
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens on port 9
    session, events = await session_factory(openai_agent(llm={"max_retries": 1}))
    await ask(session, "hi")
    assert "connection failed" in events.of("error")[0].message
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line


async def test_missing_key_without_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from livekitex_cli import ValidationError
    from livekitex_cli.session import AgentSession

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValidationError, match="OPENAI_API_KEY is not set"):
        AgentSession(agent=openai_agent())


async def test_secret_key_never_in_errors_or_reprs(
    openai_server: ScriptedOpenAI, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-DO-NOT-LEAK-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    session, events = await session_factory(openai_agent(llm={"max_retries": 0}))
    openai_server.push(Status(401, "bad key"))
    await ask(session, "hi")
    shown = " ".join(str(e) for e in events.events) + repr(session) + repr(session.llm)
    assert secret not in shown
    assert "credentials refused" in events.of("error")[0].message
