"""Typed turns through the real ``openai`` client over HTTP to the scripted server."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from livekitex_cli import RunContext, ToolRegistry, function_tool
from livekitex_cli.session import AgentSession
from livekitex_cli.testing import ScriptedOpenAI, Text, ToolCalls
from tests.session.conftest import ask, openai_agent


async def test_reply_streams_and_updates_state(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent())
    openai_server.push(Text("Hello there. How are you today?", chunk_chars=4))
    await ask(session, "hi")
    assert events.types() == [
        "state_changed", "state_changed", "state_changed", "agent_reply", "metrics",
        "state_changed",
    ]  # fmt: skip
    states = [(e.old, e.new) for e in events.of("state_changed")]
    assert states == [
        ("initializing", "listening"),
        ("listening", "thinking"),
        ("thinking", "speaking"),
        ("speaking", "listening"),
    ]
    deltas = [e.text for e in events.of("agent_text")]
    assert len(deltas) > 3 and "".join(deltas) == "Hello there. How are you today?"
    turns = session.conversation_state()["turns"]
    assert [(t["role"], t["content"]) for t in turns] == [
        ("user", "hi"),
        ("agent", "Hello there. How are you today?"),
    ]
    sent = openai_server.chat_requests[0]
    assert sent["messages"][0] == {"role": "system", "content": "You are a test agent."}
    assert sent["stream"] is True and "tools" not in sent
    metrics = session.metrics()
    assert metrics["messages_processed"] == 1
    assert metrics["average_response_time_ms"] > 0
    assert set(metrics["stages"]) >= {"llm_ttft_ms", "response_time_ms"}


async def test_history_is_sent_back(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    session, _ = await session_factory(openai_agent())
    await ask(session, "first")
    await ask(session, "second")
    messages = openai_server.chat_requests[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "You said: first"


async def test_tool_call_round_trip(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    session, events = await session_factory(openai_agent(tools=["get_weather"]))
    openai_server.push(ToolCalls([("get_weather", '{"city": "Paris", "unit": "celsius"}')]))
    await ask(session, "weather in Paris?")
    started, finished = events.of("tool_call_started"), events.of("tool_call_finished")
    assert [(e.name, json.loads(e.arguments)) for e in started] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"})
    ]
    assert finished[0].error is None and json.loads(finished[0].output)["city"] == "Paris"
    first, second = openai_server.chat_requests
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["tool_call_id"] == started[0].call_id
    assert events.of("agent_reply")[0].text.startswith("The tool said:")
    assert session.metrics()["tool_calls_executed"] == 1
    roles = [t["role"] for t in session.conversation_state()["turns"]]
    assert roles == ["user", "agent", "tool", "agent"]


async def test_parallel_tool_calls_run_concurrently(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    seen_ids: list[str] = []

    @function_tool
    async def slow_lookup(key: str, context: RunContext) -> str:
        """Look something up slowly."""
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        seen_ids.append(context.call_id)
        await asyncio.sleep(0.2)
        with lock:
            active -= 1
        return key.upper()

    registry = ToolRegistry([slow_lookup])
    session, events = await session_factory(openai_agent(tools=["slow_lookup"], registry=registry))
    openai_server.push(
        ToolCalls(
            [
                ("slow_lookup", '{"key": "a"}'),
                ("slow_lookup", '{"key": "b"}'),
                ("slow_lookup", '{"key": "c"}'),
            ]
        )
    )
    await ask(session, "three lookups")
    assert peak == 3
    assert sorted(e.output for e in events.of("tool_call_finished")) == ["A", "B", "C"]
    assert sorted(seen_ids) == sorted(e.call_id for e in events.of("tool_call_started"))
    tool_messages = [m for m in openai_server.chat_requests[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["A", "B", "C"]


@pytest.mark.fault("LLM calls tools round after round")
async def test_tool_rounds_are_bounded(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    agent = openai_agent(tools=["get_time"], max_tool_rounds=2)
    session, events = await session_factory(agent)
    openai_server.push(ToolCalls([("get_time", "{}")]), ToolCalls([("get_time", "{}")]))
    openai_server.push(Text("It is late."))
    await ask(session, "what time is it, twice")
    assert len(events.of("tool_call_started")) == 2
    assert len(openai_server.chat_requests) == 3
    assert "tools" in openai_server.chat_requests[1]
    assert "tools" not in openai_server.chat_requests[2]  # the last round must answer in text
    assert events.of("agent_reply")[-1].text == "It is late."


@pytest.mark.fault("LLM calls tools round after round")
async def test_llm_looping_on_tools_gets_the_fallback(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    agent = openai_agent(tools=["get_time"], max_tool_rounds=1)
    session, events = await session_factory(agent)
    openai_server.push(*[ToolCalls([("get_time", "{}")]) for _ in range(2)])
    await ask(session, "loop forever")
    assert len(events.of("tool_call_started")) == 1
    assert len(openai_server.chat_requests) == 2
    assert "max_tool_rounds" in events.of("error")[0].message
    assert events.of("agent_reply")[-1].text == agent.spec.fallback_line
    await ask(session, "hello again")
    assert events.of("agent_reply")[-1].text == "You said: hello again"


@pytest.mark.fault("LLM calls an unknown tool", "LLM sends invalid JSON arguments",
                   "LLM sends arguments that fail the schema")  # fmt: skip
async def test_unknown_tool_and_bad_arguments_go_back_as_errors(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent(tools=["get_weather"]))
    openai_server.push(
        ToolCalls(
            [
                ("launch_rockets", "{}"),
                ("get_weather", '{"city": '),
                ("get_weather", '{"town": "x"}'),
            ]
        )
    )
    await ask(session, "do odd things")
    finished = events.of("tool_call_finished")
    assert len(finished) == 3 and all(e.error for e in finished)
    assert "launch_rockets" in finished[0].output
    assert "not valid JSON" in finished[1].output
    assert "city" in finished[2].output and "town" in finished[2].output
    tool_messages = [m for m in openai_server.chat_requests[1]["messages"] if m["role"] == "tool"]
    assert all(m["content"].startswith("error:") for m in tool_messages)
    assert session.metrics()["tool_errors"] == 3
    await ask(session, "still there?")
    assert events.of("agent_reply")[-1].text == "You said: still there?"


@pytest.mark.fault("tool raises", "tool hangs", "tool returns something not JSON",
                   "tool returns 10 MB")  # fmt: skip
async def test_tool_faults_are_contained(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    @function_tool(timeout=0.3)
    def hangs() -> str:
        """Never returns in time."""
        threading.Event().wait(1.0)
        return "late"

    @function_tool
    def raises() -> str:
        """Fails."""
        raise RuntimeError("database is down")

    @function_tool
    def unserialisable() -> object:
        """Returns something JSON cannot carry."""
        return object()

    @function_tool
    def huge() -> str:
        """Returns 10 MB."""
        return "x" * 10_000_000

    registry = ToolRegistry([hangs, raises, unserialisable, huge])
    names = ["hangs", "raises", "unserialisable", "huge"]
    session, events = await session_factory(openai_agent(tools=names, registry=registry))
    openai_server.push(ToolCalls([(name, "{}") for name in names]))
    await ask(session, "break everything")
    by_name = {e.name: e for e in events.of("tool_call_finished")}
    assert "timed out after 0.3 s" in (by_name["hangs"].error or "")
    assert "RuntimeError: database is down" in by_name["raises"].output
    assert "Traceback" not in by_name["raises"].output
    assert "not JSON-serialisable" in by_name["unserialisable"].output
    assert by_name["huge"].error is None and len(by_name["huge"].output) < 20_000
    assert "truncated" in by_name["huge"].output
    await ask(session, "and now?")
    assert events.of("agent_reply")[-1].text == "You said: and now?"


async def test_run_context_reaches_the_tool(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    seen: dict[str, Any] = {}

    @function_tool
    def whoami(context: RunContext) -> str:
        """Report the caller."""
        seen.update(
            session=context.session, agent=context.agent, user=context.user_data, id=context.call_id
        )
        return "ok"

    agent = openai_agent(tools=["whoami"], registry=ToolRegistry([whoami]))
    session, _ = await session_factory(agent, user_data={"customer": "c-42"})
    openai_server.push(ToolCalls([("whoami", "{}")]))
    await ask(session, "who am I")
    assert seen["session"] is session and seen["agent"] is agent
    assert seen["user"] == {"customer": "c-42"} and seen["id"].startswith("call_")


async def test_greeting_and_async_events(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    agent = openai_agent(greeting="Welcome to the test.")
    session, events = await session_factory(agent)
    stream_seen: list[str] = []

    async def consume() -> None:
        async for event in session.events():
            stream_seen.append(event.type)

    consumer = asyncio.create_task(consume())
    await session.wait_idle(5)
    assert events.of("agent_reply")[0].text == "Welcome to the test."
    assert events.of("agent_reply")[0].source == "greeting"
    await ask(session, "hello")
    await session.aclose()
    await asyncio.wait_for(consumer, 2)
    assert "agent_reply" in stream_seen and stream_seen[-1] == "state_changed"
    assert openai_server.chat_requests[0]["messages"][1] == {
        "role": "assistant",
        "content": "Welcome to the test.",
    }


async def test_aclose_is_idempotent_and_leaves_no_task(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    before = asyncio.all_tasks()
    session, _ = await session_factory(openai_agent())
    openai_server.push(Text("A slow reply that will never finish.", chunk_chars=2, delay=0.2))
    streaming = asyncio.Event()
    session.callbacks["agent_text"] = lambda _: streaming.set()
    await session.process_text("start something")
    await asyncio.wait_for(streaming.wait(), 10)  # the reply is under way
    await session.aclose()
    await session.aclose()
    await asyncio.sleep(0)
    leftover = {t.get_name() for t in asyncio.all_tasks() - before if not t.done()}
    assert {name for name in leftover if name.startswith("lkx-")} == set()
    assert session.state == "closed"


async def test_sessions_share_one_client_and_the_last_one_closes_it(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    agent = openai_agent()
    (first, _), (second, _) = [await session_factory(agent) for _ in range(2)]
    other_timeout, _ = await session_factory(openai_agent(llm={"timeout": 7}))
    client = first.llm.client  # type: ignore[union-attr]
    assert second.llm.client is client  # type: ignore[union-attr]
    assert other_timeout.llm.client is not client  # type: ignore[union-attr]
    await first.aclose()
    await first.aclose()  # idempotent: hands the client back once
    assert not client.is_closed()
    await ask(second, "still there?")
    assert second.conversation_state()["turns"][-1]["content"] == "You said: still there?"
    await second.aclose()
    assert client.is_closed()


def test_a_session_never_closed_does_not_hang_the_loop_shutdown(
    threaded_openai: ScriptedOpenAI,
) -> None:
    async def forget() -> str:
        session = AgentSession(agent=openai_agent(greeting="Hello, I am here."))
        await session.start()
        return session.state  # the greeting is under way when the loop shuts down

    finished: list[str] = []
    runner = threading.Thread(target=lambda: finished.append(asyncio.run(forget())), daemon=True)
    runner.start()
    runner.join(20)  # asyncio.run cancels the session's tasks; none may swallow that
    assert finished == ["listening"]
