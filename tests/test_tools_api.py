"""Function tools and the seed contract's API: schemas, registration, execution, agents."""

from __future__ import annotations

import asyncio
import threading
import time
import typing
from enum import Enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from livekitex_cli import (
    InvalidConfigError,
    InvalidInstructionsError,
    OperationTimeoutError,
    RunContext,
    ToolExecutionError,
    ToolRegistry,
    UnknownToolError,
    ValidationError,
    create_agent,
    function_tool,
    to_openai_format,
)
from livekitex_cli.tools import execute_tool, output_text, run_tool
from livekitex_cli.tools.function_tool import tool_from_definition


class Color(Enum):
    red = "red"
    blue = "blue"


class Address(TypedDict):
    street: str
    zip: int


class Person(BaseModel):
    name: str
    age: int | None = None


@function_tool
def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    maybe: str | None,
    mode: Literal["fast", "slow"],
    color: Color,
    tags: list[str],
    address: Address,
    person: Person,
    context: RunContext,
    limit: int = 5,
) -> str:
    """Exercise every kind of parameter.

    Args:
        text: Some text.
        count: How many.
    """
    return "ok"


class Plain(typing.TypedDict):
    a: int


def uses_plain(value: Plain) -> str:
    return "x"


def echo_contract(word: str, times: int) -> str:
    return word * times


def test_schema_from_type_hints() -> None:
    schema = everything.parameters
    props = schema["properties"]
    assert schema["required"] == [
        "text", "count", "ratio", "flag", "maybe", "mode", "color", "tags", "address", "person",
    ]  # fmt: skip
    assert "context" not in props  # RunContext is injected, never shown to the LLM
    assert props["text"] == {"type": "string", "description": "Some text."}
    assert props["count"]["type"] == "integer" and props["ratio"]["type"] == "number"
    assert props["flag"]["type"] == "boolean"
    assert {"type": "null"} in props["maybe"]["anyOf"]
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["color"]["enum"] == ["red", "blue"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["address"]["properties"]["zip"]["type"] == "integer"
    assert props["address"]["required"] == ["street", "zip"]
    assert props["person"]["properties"]["name"]["type"] == "string"
    assert props["limit"]["default"] == 5
    assert "$ref" not in str(schema) and "title" not in str(schema)
    assert everything.description == "Exercise every kind of parameter."


def test_openai_format_is_exact() -> None:
    out = to_openai_format([everything])
    assert set(out[0]) == {"type", "function"} and out[0]["type"] == "function"
    assert set(out[0]["function"]) == {"name", "description", "parameters"}
    assert set(out[0]["function"]["parameters"]) == {"type", "properties", "required"}
    contract = to_openai_format(
        [
            {
                "name": "echo",
                "description": "Echo a word.",
                "parameters": [
                    {"name": "word", "type": "string", "description": "The word"},
                    {"name": "times", "type": "integer", "required": False},
                ],
            }
        ]
    )
    assert contract == [
        {
            "type": "function",
            "function": {
                "name": "echo",
                "description": "Echo a word.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "word": {"type": "string", "description": "The word"},
                        "times": {
                            "anyOf": [{"type": "integer"}, {"type": "null"}],
                            "default": None,
                        },
                    },
                    "required": ["word"],
                },
            },
        }
    ]


def test_register_contract_definition() -> None:
    registry = ToolRegistry()
    tool = registry.register(
        {
            "name": "echo",
            "description": "Repeat a word.",
            "module": __name__,
            "function": "echo_contract",
            "arity": 2,
            "parameters": [
                {"name": "word", "type": "string"},
                {"name": "times", "type": "integer"},
            ],
            "return_type": "string",
            "timeout": 10,
        }
    )
    assert tool.timeout == 10 and tool.return_type == "string"
    assert (
        asyncio.run(execute_tool("echo", {"word": "ab", "times": 2}, registry=registry)) == "abab"
    )
    assert "echo" in registry.all()


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"arity": 3}, "arity", "is 3 but 'echo_contract' takes 2"),
        ({"module": "no.such.module"}, "module", "cannot import 'no.such.module'"),
        ({"function": "missing"}, "function", "has no function 'missing'"),
        ({"timeout": 301}, "timeout", "301 s is over the limit of 300 s"),
        ({"timeout": 0}, "timeout", "must be a positive number"),
        (
            {"parameters": [{"name": "word", "type": "blob"}]},
            "parameters[0].type",
            "'blob' is not one of",
        ),
        (
            {"parameters": [{"name": "nope"}]},
            "parameters",
            "'nope' is not a parameter of the function",
        ),
        ({"colour": "red"}, "colour", "is not a field of a tool definition"),
    ],
)
def test_register_contract_definition_errors(
    change: dict[str, Any], field: str, reason: str
) -> None:
    definition = {
        "name": "echo",
        "description": "",
        "module": __name__,
        "function": "echo_contract",
    }
    with pytest.raises(ValidationError) as info:
        tool_from_definition({**definition, **change})
    assert info.value.field == field and reason in info.value.reason


def test_typing_typeddict_on_311_is_a_clear_error() -> None:
    import sys

    if sys.version_info >= (3, 12):
        assert function_tool(uses_plain).parameters["required"] == ["value"]
    else:
        with pytest.raises(ValidationError, match="typing_extensions.TypedDict"):
            function_tool(uses_plain)


def test_default_timeout_and_duplicates() -> None:
    @function_tool
    def once() -> str:
        """Once."""
        return "1"

    @function_tool(name="once")
    def again() -> str:
        """Twice."""
        return "2"

    assert once.timeout == 60.0
    registry = ToolRegistry([once])
    with pytest.raises(ValidationError, match="provided by both"):
        registry.register(again)


async def test_execution_validates_before_running() -> None:
    calls: list[Any] = []

    @function_tool
    def strict(n: int, when: Literal["now", "later"] = "now") -> int:
        """Strict."""
        calls.append(n)
        return n * 2

    registry = ToolRegistry([strict])
    assert await execute_tool("strict", '{"n": 4}', registry=registry) == 8
    for bad, where in [({"n": "four"}, "n: input should be a valid integer"), ({}, "n: field required"),
                       ({"n": 1, "x": 2}, "x: is not a parameter"), ({"n": 1, "when": "soon"}, "when:")]:  # fmt: skip
        with pytest.raises(ValidationError) as info:
            await execute_tool("strict", bad, registry=registry)
        assert where in str(info.value)
    with pytest.raises(UnknownToolError, match="did you mean 'strict'"):
        await execute_tool("strikt", {}, registry=registry)
    assert calls == [4]


async def test_sync_tools_run_off_the_loop_and_time_out() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    ticked = threading.Event()

    @function_tool(timeout=5)
    def waits_for_the_loop() -> str:
        """Blocks until the event loop has run meanwhile (or gives up)."""
        seen.append(threading.get_ident())
        return "done" if ticked.wait(4) else "the loop was blocked"

    async def ticker() -> None:
        for _ in range(3):  # a few turns of the loop while the tool blocks its thread
            await asyncio.sleep(0)
        ticked.set()

    task = asyncio.create_task(ticker())
    assert await run_tool(waits_for_the_loop, {}) == "done"  # set by the loop meanwhile
    await task
    assert seen[0] != loop_thread

    @function_tool(timeout=0.5)
    def blocking(seconds: float) -> str:
        """Blocks."""
        time.sleep(seconds)
        return "done"

    with pytest.raises(OperationTimeoutError, match="tool 'blocking' timed out after 0.5 s"):
        await run_tool(blocking, {"seconds": 2})


async def test_async_tool_timeout_and_failures() -> None:
    @function_tool(timeout=0.2)
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(5)
        return "late"

    @function_tool
    async def broken(context: RunContext) -> str:
        """Broken."""
        raise KeyError(f"no such record for {context.call_id}")

    with pytest.raises(OperationTimeoutError):
        await run_tool(slow, {})
    with pytest.raises(ToolExecutionError) as info:
        await run_tool(broken, {}, RunContext(call_id="c7"))
    assert str(info.value) == "tool 'broken': KeyError: 'no such record for c7'"


def test_output_text() -> None:
    assert output_text("plain") == "plain"
    assert output_text({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert output_text(Person(name="Ann")) == '{"name": "Ann", "age": null}'
    with pytest.raises(ToolExecutionError, match="not JSON-serialisable"):
        output_text({"when": object()})
    big = output_text("y" * 1_000_000)
    assert len(big) < 17_000 and big.endswith("[truncated 984000 characters]")


def test_create_agent_contract_errors() -> None:
    agent = create_agent(name="a", instructions="Help.", tools=["get_weather"],
                         llm_config={"provider": "openai", "model": "x"})  # fmt: skip
    assert [t.name for t in agent.tools] == ["get_weather"] and agent.agent_id.startswith("agent_")
    with pytest.raises(InvalidInstructionsError):
        create_agent(instructions="   ")
    with pytest.raises(InvalidInstructionsError, match="at most 10000"):
        create_agent(instructions="x" * 10_001)
    with pytest.raises(UnknownToolError):
        create_agent(instructions="x", tools=["teleport"])
    with pytest.raises(InvalidConfigError, match="llm.temperature"):
        create_agent(instructions="x", llm_config={"provider": "openai", "temperature": 9})
    with pytest.raises(InvalidConfigError, match="unknown llm provider 'magic'"):
        create_agent(instructions="x", llm_config={"provider": "magic"})
    with pytest.raises(InvalidConfigError, match="tts.speed"):
        create_agent(instructions="x", tts_config={"provider": "openai", "speed": 0})


def test_agent_updates() -> None:
    agent = create_agent(instructions="First.")
    agent.update_instructions("Second.")
    assert agent.instructions == "Second."
    with pytest.raises(InvalidInstructionsError):
        agent.update_instructions("")
    agent.add_tool("get_time")
    agent.add_tool("get_time")
    assert [t.name for t in agent.tools] == ["get_time"]
    with pytest.raises(UnknownToolError):
        agent.add_tool("fly")
