"""The session core's shared pieces: provider timings reach the right turn through the one
observer hook (also when two sessions share a provider), a handoff swaps the agent and keeps
the conversation, and background tasks are named, logged when they fail and cancelled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from livekitex_cli.providers import ProviderTiming
from livekitex_cli.providers.openai.llm import OpenAILLM
from livekitex_cli.providers.openai.options import OpenAILLMOptions, OpenAISTTOptions
from livekitex_cli.providers.openai.speech import OpenAISTT
from livekitex_cli.session import AgentSession
from livekitex_cli.tasks import TaskSet
from livekitex_cli.testing import ScriptedOpenAI
from tests.session.conftest import ask, openai_agent


async def test_timings_come_from_the_observer_hook(openai_server: ScriptedOpenAI) -> None:
    shared = OpenAILLM(OpenAILLMOptions(model="scripted", timeout=5))
    seen: list[ProviderTiming] = []
    shared.observe(seen.append)
    first = AgentSession(agent=openai_agent(), llm=shared)
    second = AgentSession(agent=openai_agent(), llm=shared)
    async with first, second:
        await ask(first, "one")
        await asyncio.gather(ask(first, "two"), ask(second, "three"))
        a, b = first.metrics(), second.metrics()
    assert a["stages"]["llm_ttft_ms"]["count"] == 2
    assert b["stages"]["llm_ttft_ms"]["count"] == 1
    assert [t.stage for t in seen].count("first_result") == 3
    assert [t.stage for t in seen].count("done") == 3
    assert all(t.kind == "llm" and t.elapsed >= 0 for t in seen)


async def test_handoff_keeps_the_conversation(openai_server: ScriptedOpenAI) -> None:
    async with AgentSession(agent=openai_agent()) as session:
        await ask(session, "before")
        billing = openai_agent()
        billing.update_instructions("You are billing.")
        await session.set_agent(billing)
        await ask(session, "after")
        assert session.agent is billing
        state = session.conversation_state()
    assert [t["content"] for t in state["turns"]] == [
        "before", "You said: before", "after", "You said: after",
    ]  # fmt: skip
    last = openai_server.chat_requests[-1]["messages"]
    assert last[0] == {"role": "system", "content": "You are billing."}
    assert [m["content"] for m in last[1:]][:2] == ["before", "You said: before"]


class PreparedLLM(OpenAILLM):
    """The scripted server's LLM, recording what a session asks it to prepare."""

    def __init__(self) -> None:
        super().__init__(OpenAILLMOptions(model="scripted", timeout=5))
        self.prepared: list[tuple[str, list[str]]] = []
        self.ready = asyncio.Event()

    async def prepare(self, *, messages: list[Any], tools: list[Any]) -> None:
        self.prepared.append((messages[0]["content"], [t.name for t in tools]))
        self.ready.set()


async def test_the_llm_prepares_each_agent_before_its_first_turn(
    openai_server: ScriptedOpenAI,
) -> None:
    llm = PreparedLLM()
    async with AgentSession(agent=openai_agent(tools=["get_weather"]), llm=llm) as session:
        await asyncio.wait_for(llm.ready.wait(), 5)
        billing = openai_agent()
        billing.update_instructions("You are billing.")
        llm.ready.clear()
        await session.set_agent(billing, llm=llm)
        await asyncio.wait_for(llm.ready.wait(), 5)
    assert llm.prepared == [
        ("You are a test agent.", ["get_weather"]), ("You are billing.", []),
    ]  # fmt: skip
    remote = OpenAILLM(OpenAILLMOptions(model="scripted", timeout=5))
    await remote.prepare(messages=[{"role": "system", "content": "x"}], tools=[])
    assert openai_server.chat_requests == []  # a remote service is not asked anything


class LoadingSTT(OpenAISTT):
    """The scripted server's STT, with the ``load`` of a local one (counted)."""

    def __init__(self) -> None:
        super().__init__(OpenAISTTOptions(model="whisper-1", max_retries=1))
        self.loads = 0
        self.loaded = asyncio.Event()

    async def load(self) -> None:
        self.loads += 1
        self.loaded.set()


async def test_a_local_stt_loads_with_the_first_audio_not_for_typed_chat(
    openai_server: ScriptedOpenAI,
) -> None:
    stt = LoadingSTT()
    async with AgentSession(agent=openai_agent(voice=True), stt=stt, speak=False) as session:
        await ask(session, "hello")
        await asyncio.sleep(0.1)
        assert stt.loads == 0  # typed chat never pays for the STT's model
        silence = bytes(2 * 4_800)
        await session.process_audio(silence, sample_rate=48_000)
        await asyncio.wait_for(stt.loaded.wait(), 5)
        await session.process_audio(silence, sample_rate=48_000)
        await asyncio.sleep(0.05)
    assert stt.loads == 1


async def test_task_set_names_logs_and_cancels(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet("lkx-test", logging.getLogger("lkx-test"))

    async def boom() -> None:
        raise RuntimeError("bang")

    failing = tasks.spawn(boom(), "boom")
    sleeping = tasks.spawn(asyncio.sleep(60), "sleeper")
    assert sleeping.get_name() == "lkx-test-sleeper"
    with caplog.at_level(logging.ERROR, logger="lkx-test"):
        await asyncio.gather(failing, return_exceptions=True)
        await asyncio.sleep(0)
    assert any(r.getMessage() == "background task failed" for r in caplog.records)
    assert len(tasks) == 1
    await tasks.aclose()
    assert sleeping.cancelled() and len(tasks) == 0
