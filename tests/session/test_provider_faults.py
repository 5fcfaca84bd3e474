"""Every provider fault over real HTTP: retried where it helps, then the fallback line."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from livekitex_cli.session import PacedOutput
from livekitex_cli.testing import (
    Hang,
    Malformed,
    Reset,
    ScriptedOpenAI,
    Status,
    Text,
    Truncated,
)
from tests.livekit_server import closed_port
from tests.session.conftest import ask, openai_agent


async def _survives(session: Any, events: Any) -> None:
    """The next turn works normally."""
    await ask(session, "are you still there?")
    assert events.of("agent_reply")[-1].text == "You said: are you still there?"


@pytest.mark.fault("LLM HTTP 500/503, retried")
async def test_500s_are_retried_then_succeed(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 2}))
    openai_server.push(Status(500), Status(503), Text("Third time lucky."))
    await ask(session, "hi")
    assert events.of("agent_reply")[-1].text == "Third time lucky."
    assert events.of("error") == []
    assert len(openai_server.chat_requests) == 3


@pytest.mark.fault("LLM HTTP 500 that persists")
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


@pytest.mark.fault("LLM HTTP 429 with Retry-After")
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
@pytest.mark.fault("LLM HTTP 4xx, not retried")
async def test_client_errors_are_not_retried(
    openai_server: ScriptedOpenAI, session_factory: Any, status: int
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 3}))
    openai_server.push(Status(status))
    await ask(session, "hi")
    assert len(openai_server.chat_requests) == 1
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    await _survives(session, events)


@pytest.mark.fault("LLM never answers (timeout)")
async def test_timeout_gives_fallback(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    session, events = await session_factory(openai_agent(llm={"timeout": 0.3, "max_retries": 0}))
    openai_server.push(Hang(2.0))
    await ask(session, "hi")
    assert "timed out" in events.of("error")[0].message
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    await _survives(session, events)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(
            Reset(after_chunks=2), marks=pytest.mark.fault("LLM connection reset mid-stream")
        ),
        pytest.param(
            Malformed(after_chunks=2), marks=pytest.mark.fault("LLM stream chunk not JSON")
        ),
        pytest.param(
            Truncated(after_chunks=2), marks=pytest.mark.fault("LLM stream cut mid-chunk")
        ),
    ],
    ids=["reset", "malformed", "truncated"],
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
@pytest.mark.fault("LLM stream fails before the first word, retried")
async def test_fault_before_any_word_is_retried(
    openai_server: ScriptedOpenAI, session_factory: Any, fault: Any
) -> None:
    session, events = await session_factory(openai_agent(llm={"max_retries": 1}))
    openai_server.push(fault, Text("Recovered."))
    await ask(session, "hi")
    assert events.of("agent_reply")[-1].text == "Recovered."
    assert len(openai_server.chat_requests) == 2


@pytest.mark.fault("LLM server unreachable")
async def test_unreachable_server_gives_fallback(
    monkeypatch: pytest.MonkeyPatch, session_factory: Any
) -> None:
    with closed_port() as port:  # nothing listens there, nor can start to
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
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


@pytest.mark.fault("LLM refuses the API key")
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


@pytest.mark.fault("LLM stream stalls mid-sentence")
async def test_stream_stalling_mid_sentence_keeps_the_words(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent(llm={"timeout": 0.5, "max_retries": 2}))
    # a few words, then silence far longer than the read timeout
    openai_server.push(Text("It is sunny in Paris and", chunk_chars=12, delay=2.0))
    await ask(session, "hi")
    reply = events.of("agent_reply")[-1].text
    assert reply.startswith("It is sunny") and reply.endswith(session.agent.spec.fallback_line)
    assert "timed out" in events.of("error")[0].message
    assert len(openai_server.chat_requests) == 1  # no retry once words were out
    await _survives(session, events)


class GarbageSpeech(ScriptedOpenAI):
    """A TTS endpoint that answers 200 with whatever it is given instead of PCM."""

    def __init__(self, garbage: list[bytes]) -> None:
        super().__init__()
        self.garbage = deque(garbage)

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.tts_requests.append(str(body.get("input", "")))
        data = self.garbage.popleft() if self.garbage else b""
        return web.Response(body=data, content_type="audio/pcm")


@pytest.fixture
async def garbage_speech(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GarbageSpeech]:
    noise = random.Random(7).randbytes(48_001)  # an odd byte count: half a sample at the end
    server = GarbageSpeech([b"<html><body>502 Bad Gateway</body></html>", noise, b"", b"\x00"])
    await server.start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield server
    await server.close()


@pytest.mark.fault("TTS returns garbage audio")
async def test_tts_garbage_audio_is_contained(
    garbage_speech: GarbageSpeech, session_factory: Any
) -> None:
    agent = openai_agent(voice=True, greeting="Hello there.")
    session, events = await session_factory(agent, audio_output=PacedOutput(realtime=False))
    await session.wait_idle(10)  # the greeting is spoken: an HTML page comes back as "audio"
    for text in ("hi", "again", "once more"):  # random noise, nothing, a single byte
        await ask(session, text)
        assert events.of("agent_reply")[-1].text == f"You said: {text}"
    assert garbage_speech.tts_requests == ["Hello there.", "You said: hi", "You said: again",
                                           "You said: once more"]  # fmt: skip
    frames = [event.frame for event in events.of("agent_audio")]
    assert frames, "the garbage is played as it came: the agent cannot tell noise from speech"
    assert all(len(frame.data) % 2 == 0 for frame in frames)  # whole 16-bit samples only
    assert all(frame.sample_rate == session.output_sample_rate for frame in frames)
    assert session.state == "listening" and events.of("error") == []
