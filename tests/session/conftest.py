"""Session fixtures: a scripted OpenAI-compatible server on 127.0.0.1 and agents that use it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from livekitex_cli import Agent, ToolRegistry, create_agent
from livekitex_cli.session import AgentSession, SessionEvent
from livekitex_cli.testing import ScriptedOpenAI


@pytest.fixture
async def openai_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ScriptedOpenAI]:
    server = ScriptedOpenAI()
    await server.start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield server
    await server.close()


def openai_agent(
    *,
    tools: list[str] | None = None,
    registry: ToolRegistry | None = None,
    voice: bool = False,
    llm: dict[str, Any] | None = None,
    **settings: Any,
) -> Agent:
    llm_config = {"provider": "openai", "model": "scripted", "timeout": 5, "max_retries": 2}
    llm_config.update(llm or {})
    voice_config: dict[str, Any] = {}
    if voice:
        voice_config = {
            "stt_config": {"provider": "openai", "model": "whisper-1", "max_retries": 1},
            "tts_config": {"provider": "openai", "model": "tts-1", "max_retries": 1},
            "vad_config": {"provider": "energy", "threshold_db": -35},
        }
    return create_agent(
        name="test-agent",
        instructions="You are a test agent.",
        tools=tools or [],
        registry=registry,
        llm_config=llm_config,
        **voice_config,
        **settings,
    )


class Recorder:
    """Collects every event of a session, in order."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []

    def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    def types(self, *, skip: tuple[str, ...] = ("agent_text", "agent_audio")) -> list[str]:
        return [e.type for e in self.events if e.type not in skip]


@pytest.fixture
async def session_factory() -> AsyncIterator[Callable[..., Any]]:
    """Makes started sessions that record their events; closes them all afterwards."""
    sessions: list[AgentSession] = []

    async def make(agent: Agent, **options: Any) -> tuple[AgentSession, Recorder]:
        recorder = Recorder()
        session = AgentSession(agent=agent, event_callbacks={"*": recorder}, **options)
        sessions.append(session)
        await session.start()
        return session, recorder

    yield make
    for session in sessions:
        await session.aclose()


async def ask(session: AgentSession, text: str, timeout: float = 10) -> None:
    await session.process_text(text)
    await session.wait_idle(timeout)
