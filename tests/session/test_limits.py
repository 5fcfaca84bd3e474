"""The limits a session keeps are settings of the agent, and act as documented."""

from __future__ import annotations

from livekitex_cli.session import AgentSession
from livekitex_cli.testing import ScriptedOpenAI
from tests.session.conftest import ask, openai_agent


async def test_history_and_metrics_windows(openai_server: ScriptedOpenAI) -> None:
    agent = openai_agent(max_history_turns=4, metrics_window_turns=2)
    async with AgentSession(agent=agent) as session:
        for n in range(5):
            await ask(session, f"message {n}")
        turns = session.conversation_state()["turns"]
        assert len(turns) <= 4
        assert turns[-1]["content"] == "You said: message 4"
        sent = openai_server.chat_requests[-1]["messages"]
        assert [m["content"] for m in sent if m["role"] == "user"][0] != "message 0"
        metrics = session.metrics()
        assert metrics["stages_window_turns"] == 2
        assert metrics["stages"]["response_time_ms"]["count"] == 2
        assert metrics["messages_processed"] == 5
        assert metrics["average_response_time_ms"] > 0


def test_defaults_are_the_documented_ones() -> None:
    spec = openai_agent().spec
    assert (spec.max_history_turns, spec.metrics_window_turns) == (200, 500)
