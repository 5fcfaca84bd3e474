"""``await session.run(user_input=...)`` and its ``expect`` navigator, in Python, over HTTP to
the scripted server: each check passes on the right event and raises on the wrong one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pydantic
import pytest

from livekitex_cli import create_agent
from livekitex_cli.errors import OperationTimeoutError
from livekitex_cli.providers import LLM
from livekitex_cli.session import AgentSession
from livekitex_cli.session.run_result import RunEvent
from livekitex_cli.testing import Hang, Text, ToolCalls
from tests.scenarios.conftest import RuleServer, graded


@pytest.fixture
async def scripted(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RuleServer]:
    async with RuleServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield server


@pytest.fixture
async def session(scripted: RuleServer) -> AsyncIterator[AgentSession]:
    agent = create_agent(
        name="t",
        instructions="Be brief.",
        greeting="Hi there.",
        tools=["get_weather"],
        llm_config={"provider": "openai", "model": "scripted", "max_retries": 0},
    )
    running = AgentSession(agent=agent, speak=False)  # run() starts it, greeting recorded
    yield running
    await running.aclose()


def judge_llm(session: AgentSession) -> LLM:
    return session.agent.providers.create(
        "llm", "openai", session.agent.providers.options("llm", "openai", {"model": "judge"})
    )


async def test_a_turn_walked_in_order(session: AgentSession, scripted: RuleServer) -> None:
    greeting = await session.run()
    greeting.expect.next_event().is_message(contains="hi there")
    greeting.expect.no_more_events()
    scripted.push(ToolCalls([("get_weather", '{"city": "Paris", "unit": "celsius"}')]))
    scripted.push(Text("It is mild in Paris."))
    result = await session.run(user_input="Weather in Paris?")
    assert result.user_input == "Weather in Paris?"
    result.expect.next_event().is_function_call(name="get_weather", arguments={"city": "Paris"})
    result.expect.next_event().is_function_call_output(contains='"city": "Paris"', is_error=False)
    result.expect.next_event().is_message(contains=["mild", "paris"], not_contains="snow")
    result.expect.no_more_events()
    assert result.states == ["thinking", "speaking", "listening"]
    reply = result.replies[0]
    assert reply.first_output_ms is not None and 0 < reply.first_output_ms <= reply.at_ms
    dumped = pydantic.TypeAdapter(list[RunEvent]).dump_python(result.events, mode="json")
    assert [e["type"] for e in dumped] == ["function_call", "function_call_output", "message"]


async def test_checks_fail_with_the_events_shown(
    session: AgentSession, scripted: RuleServer
) -> None:
    await session.run()
    scripted.push(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text("Sunny."))
    result = await session.run(user_input="Weather?")
    with pytest.raises(
        AssertionError, match="expected a call to get_time, got get_weather"
    ) as caught:
        result.expect[0].is_function_call(name="get_time")
    assert '>> [0] -> get_weather({"city": "Paris"})' in str(caught.value)
    with pytest.raises(AssertionError, match='city: expected "Rome", got "Paris"'):
        result.expect[0].is_function_call(arguments={"city": "Rome"})
    with pytest.raises(AssertionError, match="expected a message, got function_call"):
        result.expect[0].is_message()
    with pytest.raises(AssertionError, match="the message lacks 'rain'"):
        result.expect[-1].is_message(contains="rain")
    with pytest.raises(AssertionError, match=r"does not match /\\d/"):
        result.expect[-1].is_message(matches=r"\d")
    with pytest.raises(AssertionError, match="expected no more events, found function_call"):
        result.expect.no_more_events()
    result.expect.skip_next(2)
    result.expect.next_event(type="message")
    with pytest.raises(AssertionError, match="expected another event, but none is left"):
        result.expect.next_event()
    assert result.expect.contains_function_call(name="get_weather").index == 0
    with pytest.raises(AssertionError, match="no message contains"):
        result.expect.contains_message(contains="snow")


async def test_judge_grades_a_message(session: AgentSession, scripted: RuleServer) -> None:
    scripted.judge = lambda question: ("sunny" in graded(question).lower(), "looked for sunny")
    await session.run()
    llm = judge_llm(session)
    try:
        scripted.push(Text("It is sunny."))
        sunny = await session.run(user_input="Weather?")
        check = await sunny.expect.next_event().is_message().judge(llm, intent="says it is sunny")
        assert check.verdict is not None and check.verdict.passed
        scripted.push(Text("It is grey."))
        grey = await session.run(user_input="And now?")
        with pytest.raises(AssertionError, match="does not 'says it is sunny': looked for sunny"):
            await grey.expect.next_event().judge(llm, intent="says it is sunny")
    finally:
        await llm.aclose()
    assert "Weather?" in scripted.judge_questions[0]  # the conversation so far goes along
    assert "It is sunny." in scripted.judge_questions[0]


async def test_run_times_out(session: AgentSession, scripted: RuleServer) -> None:
    await session.run()
    scripted.push(Hang(2))
    with pytest.raises(OperationTimeoutError, match="agent turn timed out after 0.3 s"):
        await session.run(user_input="hello?", timeout=0.3)
