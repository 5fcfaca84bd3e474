"""Tools from entry points, for real: distributions built in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.testing.distributions import write_tool_distribution
from livekitex_cli.tools import ToolRegistry, reset_default_registry

TOOL_MODULE = '''
from livekitex_cli.tools import function_tool

@function_tool
def {name}(text: str, times: int = 1) -> str:
    """Repeat some text."""
    return text * times
'''


def make_distribution(
    root: Path, dist: str, module: str, entries: dict[str, str], source: str
) -> None:
    write_tool_distribution(root, name=dist, module=module, source=source, tools=entries)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Three distributions: a good one, one whose import fails, one that duplicates a name."""
    make_distribution(
        tmp_path,
        "acme-echo",
        "acme_echo",
        {"shout": "acme_echo:shout"},
        TOOL_MODULE.format(name="shout"),
    )
    make_distribution(
        tmp_path, "broken-tools", "broken_tools", {"explode": "broken_tools:explode"},
        "raise ImportError('missing dependency: frobnicate')\n",
    )  # fmt: skip
    make_distribution(
        tmp_path, "twin-a", "twin_a", {"twin": "twin_a:twin"}, TOOL_MODULE.format(name="twin")
    )
    make_distribution(
        tmp_path, "twin-b", "twin_b", {"twin": "twin_b:twin"}, TOOL_MODULE.format(name="twin")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_default_registry()
    yield tmp_path
    reset_default_registry()


def test_discovery_finds_tools_and_reports_problems(plugins: Path) -> None:
    registry = ToolRegistry()
    registry.discover()
    assert "shout" in registry and registry.get("shout").origin == "acme-echo 1.0"
    assert "get_weather" in registry  # this project's own tools load too
    problems = {p.name: p for p in registry.problems}
    assert "frobnicate" in problems["explode"].reason
    assert problems["explode"].distribution == "broken-tools 1.0"
    assert "twin" not in registry
    assert "twin-a 1.0" in problems["twin"].reason and "twin-b 1.0" in problems["twin"].reason


def test_tools_list_shows_plugin_and_problems(plugins: Path) -> None:
    result = CliRunner().invoke(app, ["tools", "list", "--json"])
    assert result.exit_code == 1  # a broken plugin is worth a non-zero exit
    data = json.loads(result.stdout)
    by_name = {tool["name"]: tool for tool in data["tools"]}
    assert by_name["shout"]["provider"] == "acme-echo 1.0"
    assert by_name["shout"]["parameters"]["required"] == ["text"]
    assert {p["name"] for p in data["problems"]} == {"explode", "twin"}
    assert "tool 'explode' from broken-tools 1.0: cannot load" in result.stderr
    assert "Traceback" not in result.output


def test_tools_list_table(plugins: Path) -> None:
    result = CliRunner().invoke(app, ["tools", "list"])
    assert "shout" in result.stdout and "acme-echo" in result.stdout
    assert "get_weather" in result.stdout


def test_tools_list_as_a_real_subprocess(plugins: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    done = subprocess.run(
        [sys.executable, "-m", "livekitex_cli", "tools", "list", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    names = {tool["name"] for tool in json.loads(done.stdout)["tools"]}
    assert {"shout", "get_weather", "lookup_order"} <= names
    assert "broken-tools" in done.stderr and "Traceback" not in done.stderr


def test_plugin_tool_runs_from_the_cli(plugins: Path) -> None:
    result = CliRunner().invoke(
        app, ["tools", "run", "shout", "--args", '{"text": "ab", "times": 3}']
    )
    assert result.exit_code == 0 and result.stdout.strip() == "ababab"
