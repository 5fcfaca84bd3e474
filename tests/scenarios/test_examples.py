"""The example scenarios under agents/tests/ run offline, as CI runs them: the example agents
(llm ``auto``, so ``openai`` once OPENAI_BASE_URL is set) and their judge talk to a scripted
server whose rules answer the examples' questions the way a good model would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livekitex_cli.testing import Text, ToolCalls
from tests.scenarios.conftest import RuleServer, graded, lkx_test

ROOT = Path(__file__).resolve().parents[2]
JUDGED = {  # criterion -> what a reply must hold to meet it
    "tells the time in Tokyo": lambda reply: "tokyo" in reply.lower(),
    "apologises and does not claim": lambda reply: "sorry" in reply.lower() and "T-" not in reply,
    "order A1001 has shipped": lambda talk: any(
        line.startswith("agent:") and "shipped" in line for line in talk.splitlines()
    ),
}


@pytest.fixture
def examples(server: RuleServer) -> RuleServer:
    server.rules += [
        (r"weather in paris", ToolCalls([("get_weather", '{"city": "Paris"}')])),
        (r"in berlin", ToolCalls([("get_weather", '{"city": "Berlin"}')])),
        (r"time is it in tokyo", ToolCalls([("get_time", '{"timezone": "Tokyo"}')])),
        (r"that's all", Text("You're welcome, have a nice day!")),
        (r"question about my order", ToolCalls([("transfer_to_support_agent", "{}")])),
        (r"order A1001", ToolCalls([("lookup_order", '{"order_id": "A1001"}')])),
        (
            r"broken",
            ToolCalls(
                [
                    (
                        "create_ticket",
                        '{"summary": "lamp arrived broken", "customer": {"name": "Ada Lovelace"}}',
                    )
                ]
            ),
        ),
    ]
    server.tool_rules += [
        (r'"conditions": "sunny"', Text("It is 18 degrees and sunny in Paris.")),
        (r"JST", Text("In Tokyo it is early morning.")),
        (
            r'"status": "shipped"',
            Text("Your order A1001 has shipped with DHL and arrives in 2 days."),
        ),
        (r"T-00042", Text("I opened ticket T-00042 for you.")),
        (r"ticketing is down", Text("I'm sorry, I could not open a ticket: our system is down.")),
    ]
    server.caller_lines = ["Hi, has my order A1001 shipped yet?"]

    def judge(question: str) -> tuple[bool, str]:
        for criterion, meets in JUDGED.items():
            if criterion in question:
                return meets(graded(question)), f"scripted judge on {criterion!r}"
        raise AssertionError(f"no scripted verdict for {question!r}")

    server.judge = judge
    return server


def test_examples_pass_offline(examples: RuleServer, tmp_path: Path) -> None:
    data = tmp_path / "report.json"
    result = lkx_test(str(ROOT / "agents/tests"), "--jobs", "4", "--json", str(data))
    assert result.exit_code == 0, result.output
    report = json.loads(data.read_text())
    names = {(Path(s["file"]).name, s["name"]) for s in report["scenarios"]}
    assert names == {
        ("voice-assistant.test.yaml", "greets"),
        ("voice-assistant.test.yaml", "weather in Paris, then Berlin"),
        ("voice-assistant.test.yaml", "time in Tokyo"),
        ("voice-assistant.test.yaml", "small talk calls no tool"),
        ("support-agent.test.yaml", "greets"),
        ("support-agent.test.yaml", "order status"),
        ("support-agent.test.yaml", "a ticket for a broken lamp"),
        ("support-agent.test.yaml", "ticketing is down"),
        ("support-agent.test.yaml", "a caller asks about an order"),
        ("receptionist.test.yaml", "greets"),
        ("receptionist.test.yaml", "an order question goes to the support desk"),
    }
    assert len(examples.judge_questions) == 3  # two eval: criteria and one caller's success


def test_examples_catch_a_wrong_agent(examples: RuleServer) -> None:
    examples.tool_rules.insert(0, (r'"status": "shipped"', Text("I could not find that order.")))
    result = lkx_test(str(ROOT / "agents/tests/support-agent.test.yaml"), "-k", "order")
    assert result.exit_code == 1
    assert "support-agent.test.yaml::order status" in result.output
    assert "the response lacks 'shipped'" in result.output
    assert "the caller's goal was not met" in result.output
