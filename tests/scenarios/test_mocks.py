"""Mocks replace a tool for a test: the agent sees the same tool, the scripted result or error
comes back, and the real function is never called (tools that record their calls prove it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lkx_examples import orders

from livekitex_cli import RunContext, ToolRegistry, function_tool
from livekitex_cli.scenarios.suite import load_plans, run_plans
from tests.scenarios.conftest import AGENT, RuleServer, lkx_test, scenario_file

CALLS: list[dict[str, Any]] = []


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Get the weather for a city (records each call)."""
    CALLS.append({"city": city})
    return {"city": city, "temperature_c": 3, "conditions": "real weather"}


@function_tool
def whoami(context: RunContext) -> str:
    """Who the caller is, from the session's user data."""
    return f"you are {context.user_data.get('customer')}"


def registry() -> ToolRegistry:
    return ToolRegistry([get_weather, whoami])


SCENARIO = """\
agent: agent.yaml
{mocks}
scenarios:
  - name: weather
    variables: {{customer: Ada}}
    turns:
      - user: 'call get_weather {{"city": "Paris"}}'
        expect:
          - event: function_call
            calls: [{{name: get_weather, arguments: {{city: Paris}}}}]
          - event: response
            text_contains: ["{expected}"]
      - user: 'call whoami'
        expect: [{{event: response, text_contains: "you are Ada"}}]
"""
MOCKS = "mocks:\n  get_weather: {result: {city: Paris, temperature_c: 18, conditions: sunny}}"


@pytest.mark.parametrize(
    ("mocks", "expected", "calls"),
    [(MOCKS, "sunny", []), ("", "real weather", [{"city": "Paris"}])],
    ids=["mocked", "real"],
)
async def test_mocked_tool_is_never_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mocks: str, expected: str, calls: list[Any]
) -> None:
    CALLS.clear()
    (tmp_path / "agent.yaml").write_text(
        AGENT.replace(
            "[get_weather, get_time, lookup_order, create_ticket]", "[get_weather, whoami]"
        )
    )
    path = tmp_path / "m.test.yaml"
    path.write_text(SCENARIO.format(mocks=mocks, expected=expected))
    async with RuleServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        plans = load_plans([path], tools=registry())
        report = await run_plans(plans, jobs=1)
    failure = report.outcomes[0].first_failure
    assert report.passed, failure and failure.failure
    assert CALLS == calls
    output = report.outcomes[0].runs[0].turns[1].result.events[1]
    assert output.type == "function_call_output" and expected in output.output  # type: ignore[union-attr]


def ticket_counter() -> int:
    return int(re.sub(r"\D", "", repr(orders._ticket_ids)))


TICKET = """\
- name: ticket
  turns:
    - user: 'call create_ticket {"summary": "broken", "customer": {"name": "Ada"}}'
      expect:
        - event: function_call
          calls: [{name: create_ticket, arguments: {customer: {name: Ada}}}]
        - event: response
          text_contains: ["{said}"]
"""


@pytest.mark.parametrize(
    ("head", "said", "opened"),
    [
        (
            'mocks:\n  create_ticket: {error: "ticketing is down"}\n',
            "error: tool 'create_ticket': ticketing is down",
            0,
        ),
        ("", '"ticket": "T-', 1),
    ],
    ids=["mocked", "real"],
)
def test_mocked_error_through_the_cli(
    server: RuleServer, agent_file: Path, head: str, said: str, opened: int
) -> None:
    before = ticket_counter()
    path = scenario_file(
        agent_file.parent, TICKET.replace("{said}", said.replace('"', '\\"')), head=head
    )
    result = lkx_test(str(path))
    assert result.exit_code == 0, result.output
    assert ticket_counter() - before == opened  # the real create_ticket numbers every ticket
