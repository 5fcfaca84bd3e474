"""Handoffs in a real session over the scripted OpenAI server: the transfer tool, the new
agent's line, the history it gets, the tools it offers, handing back, and bounded loops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livekitex_cli import Agent, ToolRegistry, function_tool
from livekitex_cli.errors import InvalidFileError
from livekitex_cli.session import AgentSession
from livekitex_cli.session.handoff import resolve_handoffs
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.testing.openai_server import Text, ToolCalls
from tests.session.conftest import ask

LLM = "llm: {provider: openai, model: scripted, timeout: 5, max_retries: 0}\n"


@function_tool
def front_desk_hours() -> str:
    """Opening hours of the front desk."""
    return "9 to 5"


@function_tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look an order up.

    Args:
        order_id: The order number.
    """
    return {"order_id": order_id, "status": "shipped"}


def registry() -> ToolRegistry:
    return ToolRegistry([front_desk_hours, lookup_order])


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{LLM}{body}")
    return path


def pair(tmp_path: Path, *, reception: str = "", orders: str = "") -> Agent:
    """receptionist -> orders (by name) and back (by path)."""
    write(
        tmp_path, "orders",
        "instructions: You are the orders desk.\n"
        "on_enter: Orders desk here, what can I do for you?\n"
        "tools: [lookup_order]\n"
        "handoffs:\n  - agent: ./receptionist.yaml\n"
        "    description: The caller wants anything but orders.\n" + orders,
    )  # fmt: skip
    path = write(
        tmp_path, "receptionist",
        "instructions: You are the receptionist.\n"
        "tools: [front_desk_hours]\n"
        "handoffs:\n  - agent: orders\n    description: The caller asks about an order.\n"
        + reception,
    )  # fmt: skip
    agent = Agent.from_yaml(path, tools=registry())
    resolve_handoffs([agent])
    return agent


def tool_names(request: dict[str, Any]) -> list[str]:
    return sorted(t["function"]["name"] for t in request.get("tools") or [])


async def test_transfer_switches_agent_line_and_tools(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    session, events = await session_factory(pair(tmp_path))
    assert session.agent.name == "receptionist"
    openai_server.push(ToolCalls([("transfer_to_orders", '{"reason": "order status"}')]))
    await ask(session, "Where is my order?")
    first = openai_server.chat_requests[0]
    assert tool_names(first) == ["front_desk_hours", "transfer_to_orders"]
    assert "transfer_to_orders" in {
        t["function"]["name"]: t["function"]["description"] for t in first["tools"]
    }
    assert len(openai_server.chat_requests) == 1  # the old agent's reply ended at the transfer
    assert session.agent.name == "orders"
    handoff = events.of("agent_handoff")
    assert [(h.from_agent, h.to_agent, h.reason) for h in handoff] == [
        ("receptionist", "orders", "order status")
    ]
    assert events.of("agent_reply")[-1].text == "Orders desk here, what can I do for you?"
    await ask(session, 'call lookup_order {"order_id": "A7"}')
    request = openai_server.chat_requests[-2]
    assert request["messages"][0] == {"role": "system", "content": "You are the orders desk."}
    assert tool_names(request) == ["lookup_order", "transfer_to_receptionist"]
    assert "front_desk_hours" not in str(request["tools"])
    assert "shipped" in events.of("agent_reply")[-1].text
    assert session.handoffs.count == 1


async def test_old_tool_is_refused_after_the_transfer(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    session, events = await session_factory(pair(tmp_path))
    openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
    await ask(session, "order please")
    openai_server.push(ToolCalls([("front_desk_hours", "{}")]), Text("Sorry."))
    await ask(session, "hours?")
    finished = events.of("tool_call_finished")[-1]
    assert finished.name == "front_desk_hours" and "not offered" in (finished.error or "")


async def test_full_history_goes_along_by_default(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    session, _ = await session_factory(pair(tmp_path))
    await ask(session, "My name is Ada.")
    openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
    await ask(session, "Where is my order?")
    await ask(session, "Thanks")
    contents = [m.get("content") for m in openai_server.chat_requests[-1]["messages"]]
    assert "My name is Ada." in contents and "Where is my order?" in contents


async def test_last_n_keeps_only_the_last_turns(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    session, _ = await session_factory(pair(tmp_path, reception="handoff_context: {last_n: 1}\n"))
    await ask(session, "My name is Ada.")
    openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
    await ask(session, "Where is my order?")
    await ask(session, "Thanks")
    contents = [m.get("content") for m in openai_server.chat_requests[-1]["messages"]]
    assert "My name is Ada." not in contents and "Where is my order?" in contents
    assert all(turn.content != "My name is Ada." for turn in session.history.turns)


async def test_summary_is_made_by_an_llm_call(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    session, _ = await session_factory(pair(tmp_path, reception="handoff_context: summary\n"))
    await ask(session, "My name is Ada.")
    openai_server.push(
        ToolCalls([("transfer_to_orders", "{}")]), Text("Ada asks where her order is.")
    )
    await ask(session, "Where is my order?")
    summary_request = openai_server.chat_requests[-1]
    assert summary_request["messages"][0]["content"].startswith("Summarize the conversation")
    assert "tools" not in summary_request or not summary_request["tools"]
    await ask(session, "Thanks")
    messages = openai_server.chat_requests[-1]["messages"]
    assert messages[1] == {
        "role": "system",
        "content": "Summary of the conversation so far: Ada asks where her order is.",
    }
    assert "My name is Ada." not in [m.get("content") for m in messages]


async def test_hand_back_and_greeting_fallback(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    agent = pair(tmp_path, reception="greeting: Reception, hello.\n")
    session, events = await session_factory(agent)
    await session.wait_idle(5)
    openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
    await ask(session, "order")
    openai_server.push(ToolCalls([("transfer_to_receptionist", '{"reason": "not an order"}')]))
    await ask(session, "actually, the hours")
    assert session.agent.name == "receptionist"
    assert [(h.from_agent, h.to_agent) for h in events.of("agent_handoff")] == [
        ("receptionist", "orders"), ("orders", "receptionist"),
    ]  # fmt: skip
    # no on_enter: the greeting is said again
    assert [r.text for r in events.of("agent_reply")][-1] == "Reception, hello."
    await ask(session, "hours?")
    assert tool_names(openai_server.chat_requests[-1]) == ["front_desk_hours", "transfer_to_orders"]


async def test_a_transfer_loop_is_bounded_per_turn(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    write(tmp_path, "b", "instructions: B.\nhandoffs: [{agent: a, description: to A}]\n")
    path = write(
        tmp_path, "a", "instructions: A.\nmax_handoffs: 2\n"
        "handoffs: [{agent: b, description: to B}]\n",
    )  # fmt: skip
    agent = Agent.from_yaml(path, tools=registry())
    resolve_handoffs([agent])
    session, events = await session_factory(agent)
    openai_server.push(
        ToolCalls([("transfer_to_b", "{}")]),  # A -> B; B has no line: it answers
        ToolCalls([("transfer_to_a", "{}")]),  # B -> A, A answers
        ToolCalls([("transfer_to_b", "{}")]),  # refused: 2 this turn
        Text("I will help you myself."),
    )
    await ask(session, "ping pong")
    assert len(events.of("agent_handoff")) == 2
    assert session.agent.name == "a"
    refused = events.of("tool_call_finished")[-1]
    assert "max_handoffs" in (refused.error or "")
    assert events.of("agent_reply")[-1].text == "I will help you myself."
    # the next user turn may transfer again
    openai_server.push(ToolCalls([("transfer_to_b", "{}")]), Text("B here."))
    await ask(session, "again")
    assert session.agent.name == "b" and len(events.of("agent_handoff")) == 3


def test_unknown_and_self_targets_are_load_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path, "solo", "instructions: Solo.\nhandoffs:\n"
        "  - {agent: nobody, description: x}\n  - {agent: solo, description: y}\n",
    )  # fmt: skip
    agent = Agent.from_yaml(path, tools=registry())
    with pytest.raises(InvalidFileError) as caught:
        resolve_handoffs([agent])
    lines = [str(p) for p in caught.value.problems]
    assert any("solo.yaml:5: handoffs[0].agent: nobody: no agent" in line for line in lines)
    assert any("handoffs[1].agent: an agent cannot hand off to itself" in line for line in lines)


def test_handoff_fields_are_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "bad", "instructions: X.\nhandoffs: [{agnt: b, description: d}]\n")
    with pytest.raises(InvalidFileError) as caught:
        Agent.from_yaml(path, tools=registry())
    problems = [str(p) for p in caught.value.problems]
    assert any("unknown field 'agnt' (did you mean 'agent'?)" in p for p in problems)


async def test_session_keeps_running_state(openai_server: ScriptedOpenAI, tmp_path: Path) -> None:
    async with AgentSession(agent=pair(tmp_path)) as session:
        openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
        result = await session.run(user_input="order")
        assert [e.type for e in result.events][:2] == ["function_call", "function_call_output"]
        assert result.replies[-1].text.startswith("Orders desk here")
        assert session.conversation_state()["agent"] == "orders"


async def test_voice_and_turn_settings_switch(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    voice = "stt: {provider: openai, model: whisper-1, max_retries: 0}\nvad: {provider: energy}\n"
    write(
        tmp_path, "orders",
        "instructions: Orders.\non_enter: Orders desk.\nmin_endpointing_delay: 1.5\n"
        "tts: {provider: openai, model: tts-1, voice: nova, max_retries: 0}\n" + voice,
    )  # fmt: skip
    path = write(
        tmp_path, "front",
        "instructions: Front.\nmin_endpointing_delay: 0.3\n"
        "tts: {provider: openai, model: tts-1, voice: alloy, max_retries: 0}\n" + voice
        + "handoffs: [{agent: orders, description: Orders.}]\n",
    )  # fmt: skip
    agent = Agent.from_yaml(path, tools=registry())
    resolve_handoffs([agent])
    session, events = await session_factory(agent)
    assert session.tts is not None and session.tts.options.voice == "alloy"
    assert session.activity.turn.min_delay == 0.3
    openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
    await ask(session, "order", timeout=20)
    assert session.tts is not None and session.tts.options.voice == "nova"
    assert session.activity.turn.min_delay == 1.5
    assert openai_server.tts_requests[-1] == "Orders desk."  # said by the new voice
