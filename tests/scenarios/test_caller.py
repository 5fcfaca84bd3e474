"""Simulated callers on the scripted server: the caller (an LLM playing ``persona`` with a
``goal``) talks to the agent until it says DONE or ``max_turns``, then the judge decides
``success`` from the conversation."""

from __future__ import annotations

from pathlib import Path

import pytest

from livekitex_cli.testing import ToolCalls
from tests.scenarios.conftest import JUDGE, RuleServer, graded, line_of, lkx_test, scenario_file

CALLER = """\
- name: order status
  persona: Ada, a customer who ordered a lamp last week
  goal: find out where order A1001 is
  success: tells the caller that order A1001 has shipped
  max_turns: {turns}
"""


@pytest.fixture
def support(server: RuleServer) -> RuleServer:
    server.rules.append((r"order A1001", ToolCalls([("lookup_order", '{"order_id": "A1001"}')])))
    server.caller_lines = ["Hi, where is my order A1001?"]
    server.judge = lambda question: ("shipped" in graded(question), "checked for shipped")
    return server


def test_caller_reaches_the_goal(support: RuleServer, agent_file: Path) -> None:
    path = scenario_file(agent_file.parent, CALLER.format(turns=4), head=JUDGE)
    result = lkx_test(str(path), "--record", str(agent_file.parent / "records"))
    assert result.exit_code == 0, result.output
    record = (agent_file.parent / "records/case.test/order-status.txt").read_text()
    assert "turn 1: user: Hi, where is my order A1001?" in record
    assert '-> lookup_order({"order_id": "A1001"})' in record
    assert "judge: pass: checked for shipped" in record
    conversation = graded(support.judge_questions[-1])
    assert conversation.splitlines()[0] == "agent: Hello, I am the test agent."
    assert "caller: Hi, where is my order A1001?" in conversation
    caller_requests = [
        r for r in support.chat_requests if "playing a caller" in r["messages"][0]["content"]
    ]
    assert len(caller_requests) == 2  # the question, then DONE
    assert "find out where order A1001 is" in caller_requests[0]["messages"][0]["content"]
    assert caller_requests[1]["messages"][-1]["role"] == "user"  # the agent's answer, as heard


def test_caller_misses_the_goal(support: RuleServer, agent_file: Path) -> None:
    head = JUDGE + 'mocks:\n  lookup_order: {error: "orders are down"}\n'
    path = scenario_file(agent_file.parent, CALLER.format(turns=4), head=head)
    result = lkx_test(str(path))
    assert result.exit_code == 1, result.output
    where = f"{path}:{line_of(path, 'success:')}"
    assert (
        f"FAILED {where}: the caller's goal was not met ('tells the caller that order A1001 has shipped'): checked for shipped"
        in result.output
    )
    assert "orders are down" in result.output  # the transcript shows why


def test_caller_stops_at_max_turns(support: RuleServer, agent_file: Path) -> None:
    support.caller_lines = ["Where is order A1001?", "Really?", "Are you sure?", "Hello?"]
    path = scenario_file(agent_file.parent, CALLER.format(turns=2), head=JUDGE)
    result = lkx_test(str(path), "--json", str(agent_file.parent / "out.json"))
    assert result.exit_code == 0, result.output
    import json

    run = json.loads((agent_file.parent / "out.json").read_text())["scenarios"][0]["runs"][0]
    assert [turn["user"] for turn in run["turns"]] == [None, "Where is order A1001?", "Really?"]
    assert run["verdict"] == {"pass": True, "reason": "checked for shipped"}
