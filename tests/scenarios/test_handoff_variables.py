"""``lkx test`` with agents that hand off and take per-call variables: the ``handoff``
expectation both ways, and scenario ``variables:`` filling the prompt (a bad one is a file
error at its line)."""

from __future__ import annotations

from pathlib import Path

from livekitex_cli.testing import ToolCalls
from tests.scenarios.conftest import RuleServer, line_of, lkx_test, scenario_file

LLM = "llm: {provider: openai, model: scripted, timeout: 5, max_retries: 0}\n"


def agents(folder: Path) -> None:
    (folder / "orders.yaml").write_text(
        f"name: orders\ninstructions: Orders desk.\non_enter: Orders here.\n{LLM}"
    )
    (folder / "agent.yaml").write_text(
        "name: front\ninstructions: Front desk for {{customer_name}}.\n"
        f"{LLM}handoffs: [{{agent: orders, description: Orders.}}]\n"
        "variables: {customer_name: {type: string}, tier: {enum: [gold, basic], default: basic}}\n"
    )


SCENARIOS = """\
- name: hands over
  turns:
    - user: "I want to order"
      expect:
        - event: handoff
          to: {target}
        - event: response
          text_contains: Orders here
"""


def test_handoff_expectation_passes_and_fails(server: RuleServer, tmp_path: Path) -> None:
    agents(tmp_path)
    server.rules.append((r"want to order", ToolCalls([("transfer_to_orders", "{}")])))
    head = "variables: {customer_name: Ada}\n"
    good = scenario_file(tmp_path, SCENARIOS.format(target="orders"), head=head)
    result = lkx_test(str(good))
    assert result.exit_code == 0, result.output
    prompts = [r["messages"][0]["content"] for r in server.chat_requests]
    assert prompts[0] == "Front desk for Ada."
    bad = scenario_file(tmp_path, SCENARIOS.format(target="billing"), head=head, name="b.test.yaml")
    result = lkx_test(str(bad))
    assert result.exit_code == 1
    assert "expected a handoff to billing, saw front -> orders" in result.output


def test_bad_scenario_variables_are_file_errors(server: RuleServer, tmp_path: Path) -> None:
    agents(tmp_path)
    path = scenario_file(
        tmp_path, SCENARIOS.format(target="orders"), head="variables: {tier: silver}\n"
    )
    result = lkx_test(str(path))
    assert result.exit_code == 1
    line = line_of(path, "variables:")
    assert f"{path}:{line}: variables: variables.customer_name: missing" in result.output
