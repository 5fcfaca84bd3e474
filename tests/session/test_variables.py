"""Per-call variables: declared in YAML, checked at load, filled from sources in order, and the
filled prompt is what reaches the LLM (read from the scripted server's requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from livekitex_cli import Agent, ToolRegistry
from livekitex_cli.cli import app
from livekitex_cli.errors import InvalidFileError, ValidationError
from livekitex_cli.session.handoff import resolve_handoffs
from livekitex_cli.session.variables import fill_agent, fill_session
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.testing.openai_server import ToolCalls
from tests.session.conftest import ask

HEAD = "llm: {provider: openai, model: scripted, timeout: 5, max_retries: 0}\n"
VARIABLES = """variables:
  customer_name: {type: string, default: there}
  language: {enum: [en, de]}
  vip: {type: boolean, default: false}
  order_id: {pattern: "A[0-9]{4}", default: A0000}
"""


def agent_file(folder: Path, body: str, name: str = "caller") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{HEAD}{body}")
    return path


def caller(folder: Path) -> Agent:
    path = agent_file(
        folder,
        "instructions: Help {{customer_name}} in {{language}} (vip {{vip}}).\n"
        "greeting: Hello {{ customer_name }}!\n" + VARIABLES,
    )
    return Agent.from_yaml(path, tools=ToolRegistry())


def test_unknown_placeholder_is_a_load_error_at_its_line(tmp_path: Path) -> None:
    path = agent_file(
        tmp_path, "instructions: Hi {{customer_name}}.\ngreeting: Hi {{nmae}}\n" + VARIABLES
    )
    with pytest.raises(InvalidFileError) as caught:
        Agent.from_yaml(path, tools=ToolRegistry())
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:4: greeting: unknown variable '{{{{nmae}}}}' (declare it under variables:)"
    ]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ("variables: {lang: {enum: [en], default: fr}}", "variables.lang: default 'fr' is not"),
        ("variables: {n: {type: integer, default: x}}", "variables.n: default 'x' is not a"),
        ("variables: {bad-name: {}}", "'bad-name' is not a valid variable name"),
        ("variables: {p: {pattern: '('}}", "variables.p.pattern: not a regular expression"),
        ("variables: {p: {tpye: string}}", "variables.p.tpye: unknown field 'tpye'"),
    ],
)
def test_bad_declarations(tmp_path: Path, variables: str, expected: str) -> None:
    path = agent_file(tmp_path, f"instructions: Hi.\n{variables}\n")
    with pytest.raises(InvalidFileError) as caught:
        Agent.from_yaml(path, tools=ToolRegistry())
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems


def test_values_come_from_the_first_source_then_defaults(tmp_path: Path) -> None:
    agent = caller(tmp_path)
    values = fill_agent(
        agent,
        [
            ("dispatch metadata", {"language": "de", "vip": True}),
            ("attributes", {"language": "en", "customer_name": "Ada", "vip": "false"}),
        ],
    )
    assert values == {"customer_name": "Ada", "language": "de", "vip": True, "order_id": "A0000"}
    assert agent.instructions == "Help Ada in de (vip true)."
    assert agent.spec.greeting == "Hello Ada!"


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ([], "variables.language: missing (looked in: no source)"),
        ([("dispatch metadata", {"language": "fr"})], "'fr' from dispatch metadata is not one of"),
        ([("m", {"language": "en", "vip": "maybe"})], "variables.vip: 'maybe' from m is not a"),
        ([("m", {"language": "en", "order_id": "B1"})], "does not match 'A[0-9]{4}'"),
    ],
)
def test_bad_or_missing_values_change_nothing(
    tmp_path: Path, sources: list[Any], expected: str
) -> None:
    agent = caller(tmp_path)
    with pytest.raises(ValidationError) as caught:
        fill_agent(agent, sources)
    assert expected in str(caught.value)
    assert "{{customer_name}}" in agent.instructions  # never half filled


async def test_the_filled_prompt_reaches_the_llm(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    write = agent_file
    write(tmp_path, "instructions: Orders for {{customer_name}}.\n" + VARIABLES, "orders")
    path = write(
        tmp_path,
        "instructions: Reception for {{customer_name}} ({{language}}).\n"
        "handoffs: [{agent: orders, description: 'Orders of {{customer_name}}'}]\n" + VARIABLES,
    )
    agent = Agent.from_yaml(path, tools=ToolRegistry())
    resolve_handoffs([agent])
    session, _ = await session_factory(agent)
    fill_session(session, [("metadata", {"customer_name": "Ada", "language": "en"})])
    openai_server.push(ToolCalls([("transfer_to_orders", "{}")]))
    await ask(session, "hello")
    first = openai_server.chat_requests[0]
    assert first["messages"][0]["content"] == "Reception for Ada (en)."
    assert first["tools"][0]["function"]["description"] == "Orders of Ada"
    await ask(session, "again")
    assert openai_server.chat_requests[-1]["messages"][0]["content"] == "Orders for Ada."


def test_console_var(threaded_openai: ScriptedOpenAI, tmp_path: Path) -> None:
    path = agent_file(tmp_path, "instructions: Help {{customer_name}}.\n" + VARIABLES)
    args = ["console", str(path), "-m", "hi", "--var", "language=de", "--var", "customer_name=Bo"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert threaded_openai.chat_requests[-1]["messages"][0]["content"] == "Help Bo."
    bad = CliRunner().invoke(app, ["console", str(path), "-m", "hi", "--var", "language=fr"])
    assert bad.exit_code == 1
    assert "variables.language: 'fr' from --var is not one of en, de" in bad.output
