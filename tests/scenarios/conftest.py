"""Scenario-test fixtures: a scripted OpenAI-compatible server that answers by rule (the agent,
a judge and a simulated caller can then share it, in any order), a test agent file that uses it,
and helpers to write scenario files and run ``lkx test`` in process."""

from __future__ import annotations

import json
import logging
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI, Text, ToolCalls
from livekitex_cli.testing.openai_server import Step

AGENT = """\
name: test-agent
instructions: You are a test agent.
greeting: Hello, I am the test agent.
tools: [get_weather, get_time, lookup_order, create_ticket]
llm: {provider: openai, model: scripted, timeout: 10, max_retries: 2}
"""
JUDGE = "judge: {provider: openai, model: scripted-judge, max_retries: 0}\n"
CALLER = "You are testing a conversational agent by playing a caller"
Verdict = tuple[bool, str]


class RuleServer(ScriptedOpenAI):
    """Answers without a script, by rule: a judge request (one offering ``verdict``) by
    ``judge(question)``; a simulated caller's request with the next of ``caller_lines`` (then
    ``DONE``); an agent request by the first of ``rules`` whose pattern the last user message
    matches (``tool_rules``: the tool result, when that came last), else by the echo model
    (``call NAME {json}`` calls a tool). Pushed steps come first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules: list[tuple[str, Step]] = []
        self.tool_rules: list[tuple[str, Step]] = []  # matched against a tool's result
        self.judge: Callable[[str], Verdict] = lambda question: (True, "looks fine")
        self.caller_lines: list[str] = []
        self.judge_questions: list[str] = []

    def _echo(self, body: dict[str, Any]) -> Step:
        messages = body.get("messages", [])
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        if "verdict" in tools:
            question = str(messages[-1]["content"])
            self.judge_questions.append(question)
            passed, reason = self.judge(question)
            return ToolCalls([("verdict", json.dumps({"pass": passed, "reason": reason}))])
        if messages and str(messages[0].get("content", "")).startswith(CALLER):
            said = sum(1 for m in messages if m["role"] == "assistant")
            lines = [*self.caller_lines, "DONE"]
            return Text(lines[min(said, len(lines) - 1)])
        last = messages[-1] if messages else {}
        rules = {"user": self.rules, "tool": self.tool_rules}.get(str(last.get("role")), [])
        for pattern, step in rules:
            if re.search(pattern, str(last.get("content", "")), re.I):
                return step
        return super()._echo(body)


def graded(question: str) -> str:
    """The part of a judge's question that is being graded."""
    return question.split("to grade:\n", 1)[1].split("\n\nCriterion:", 1)[0]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RuleServer]:
    """The rule server in its own thread; ``OPENAI_BASE_URL`` points at it. An interrupted
    reply drops its stream, which aiohttp's server logs as an error: that noise is the test
    server's, not lkx's, so it is kept out of the output the tests read."""
    monkeypatch.setattr(logging.getLogger("aiohttp.server"), "disabled", True)
    with RuleServer.in_thread() as running:
        assert isinstance(running, RuleServer)
        monkeypatch.setenv("OPENAI_BASE_URL", running.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield running


@pytest.fixture
def agent_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(AGENT)
    return path


def scenario_file(folder: Path, body: str, *, name: str = "case.test.yaml", head: str = "") -> Path:
    """A scenario file for ``agent.yaml`` in ``folder``: ``head`` (top-level keys) then
    ``body`` (the ``scenarios:`` list, dedented)."""
    path = folder / name
    text = (
        "agent: agent.yaml\n" + head + "scenarios:\n" + textwrap.indent(textwrap.dedent(body), "  ")
    )
    path.write_text(text)
    return path


def lkx_test(*args: str) -> Result:
    result = CliRunner().invoke(app, ["test", *args])
    assert "Traceback" not in result.output, result.output
    return result


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")
