"""Every bad input gets one clear line and the documented exit code; good input works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from livekitex_cli import __version__
from livekitex_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOOD = "name: ok\ninstructions: Be helpful.\nllm: {provider: openai, model: m}\n"


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def validate_text(tmp_path: Path, text: str, name: str = "agent.yaml") -> Result:
    path = tmp_path / name
    path.write_text(text)
    return run("validate", str(path))


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"lkx {__version__}"
    result = run("--help")
    assert result.exit_code == 0
    for command in ("validate", "tools", "console", "start", "token", "connect"):
        assert command in result.stdout


def test_unknown_command_is_usage_error() -> None:
    assert run("frobnicate").exit_code == 2


def test_valid_files_exit_0() -> None:
    result = run("validate", str(ROOT / "agents"), str(ROOT / "agent.example.yaml"))
    assert result.exit_code == 0
    assert result.stdout.count("ok ") == 4  # three example agents and agent.example.yaml
    # how spoken turns end: the preset, its detection resolved (the text model: scripts/setup.sh)
    from livekitex_cli.session.endpointing import text_detection_possible

    expected = "text" if text_detection_possible("en") else "vad"
    assert f"voice-assistant (voice, balanced turns by {expected};" in result.stdout
    assert "example-agent (voice, balanced turns by vad;" in result.stdout  # detection: vad


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", ":2:1: invalid YAML: expected ',' or ']'"),
        ("name: a\n  bad: indent\n", ":2:6: invalid YAML"),
        ("- a list\n", "the top level must be a mapping of fields, not a list"),
        ("just a string\n", "the top level must be a mapping of fields, not a str"),
        ("", "the top level must be a mapping of fields, not empty"),
        (GOOD + "instruction: typo\n", ":4: instruction: unknown field 'instruction' (did you mean 'instructions'?)"),
        ("name: ok\ninstructions: x\nllm: {provider: openai, temprature: 1}\n", "llm.temprature: unknown field 'temprature' (did you mean 'temperature'?)"),
        (GOOD + "max_tool_rounds: lots\n", ":4: max_tool_rounds: input should be a valid integer"),
        ("name: ok\ninstructions: x\nllm:\n  provider: openai\n  temperature: 5\n", ":5: llm.temperature: input should be less than or equal to 2"),
        ("name: ok\ninstructions: ''\n", "instructions: must not be empty"),
        (f"name: ok\ninstructions: {'x' * 10_001}\n", "is 10001 characters long, at most 10000 allowed"),
        (GOOD + "tools: [get_wether]\n", "tools[0]: unknown tool 'get_wether' (did you mean 'get_weather'?)"),
        ("name: ok\ninstructions: x\nllm: {provider: nope}\n", "unknown llm provider 'nope' (available: auto, local, openai)"),
        ("name: bad name!\ninstructions: x\n", "name: string should match pattern"),
        ("name: ok\ninstructions: ${LKX_SURELY_UNSET_VAR}\n", "environment variable 'LKX_SURELY_UNSET_VAR' is not set"),
    ],
)  # fmt: skip
def test_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    result = validate_text(tmp_path, text)
    assert result.exit_code == 1
    assert expected in result.stderr
    assert result.stderr.startswith("error: ")
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)


def test_env_defaults_and_escapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from livekitex_cli import Agent

    monkeypatch.setenv("LKX_TEST_MODEL", "from-env")
    path = tmp_path / "env.yaml"
    path.write_text(
        "name: env\ninstructions: costs $$5 ${LKX_UNSET_X:-nothing}\n"
        "llm: {provider: openai, model: '${LKX_TEST_MODEL}'}\n"
    )
    agent = Agent.from_yaml(path)
    assert agent.instructions == "costs $5 nothing"
    assert agent.provider_options["llm"].model == "from-env"  # type: ignore[attr-defined]


def test_missing_file(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 1 and "absent.yaml: file not found" in result.stderr


def test_folder_lists_every_problem_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad1.yaml").write_text("name: b1\ninstruction: x\nmax_tool_rounds: -1\n")
    (tmp_path / "bad2.yml").write_text("- nope\n")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert "ok " in result.stdout and "good.yaml" in result.stdout
    assert "bad1.yaml:2: instruction: unknown field" in result.stderr
    assert "bad1.yaml:1: instructions: field required" in result.stderr
    assert (
        "bad1.yaml:3: max_tool_rounds: input should be greater than or equal to 0" in result.stderr
    )
    assert "bad2.yml:1: the top level must be a mapping" in result.stderr
    assert "2 of 3 files invalid" in result.stdout


def test_empty_folder(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1 and "no agent files" in result.stderr


def test_tools_show_and_run() -> None:
    shown = json.loads(run("tools", "show", "get_weather").stdout)
    assert shown["type"] == "function" and shown["function"]["name"] == "get_weather"
    assert shown["function"]["parameters"]["required"] == ["city"]
    result = run("tools", "run", "get_weather", "--args", '{"city": "Paris"}')
    assert result.exit_code == 0 and json.loads(result.stdout)["city"] == "Paris"


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["tools", "show", "get_wether"], 1, "unknown tool 'get_wether' (did you mean 'get_weather'?)"),
        (["tools", "run", "get_weather", "--args", "{not json"], 1, "arguments: not valid JSON"),
        (["tools", "run", "get_weather", "--args", "[1]"], 1, "must be a JSON object, not list"),
        (["tools", "run", "get_weather", "--args", "{}"], 1, "city: field required"),
        (["tools", "run", "get_weather", "--args", '{"city": "Paris", "unit": "kelvin"}'], 1, "unit: input should be 'celsius' or 'fahrenheit'"),
        (["tools", "run", "get_weather", "--args", '{"city": "  "}'], 5, "ValueError: city must not be empty"),
        (["tools", "run", "get_time", "--args", '{"timezone": "Mars/Base"}'], 5, "unknown time zone 'Mars/Base'"),
    ],
)  # fmt: skip
def test_tool_errors(args: list[str], code: int, expected: str) -> None:
    result = run(*args)
    assert result.exit_code == code
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_real_subprocess_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("instruction: x\n")
    done = subprocess.run(
        [sys.executable, "-m", "livekitex_cli", "validate", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "did you mean 'instructions'" in done.stderr and "Traceback" not in done.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "livekitex_cli", "validate", str(ROOT / "agents")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0


def test_token_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from livekit import api

    secret = "a-secret-that-is-long-enough-for-hs256-0123456789"
    monkeypatch.setenv("LIVEKIT_API_KEY", "key1")
    monkeypatch.setenv("LIVEKIT_API_SECRET", secret)
    result = run("token", "--room", "demo", "--identity", "alice")
    assert result.exit_code == 0
    claims = api.TokenVerifier("key1", secret).verify(result.stdout.strip())
    assert claims.identity == "alice" and claims.video is not None
    assert claims.video.room == "demo" and claims.video.room_join
    assert not claims.video.room_admin and not claims.video.room_create  # least privilege
    assert secret not in result.output
    monkeypatch.delenv("LIVEKIT_API_SECRET")
    missing = run("token", "--room", "demo", "--identity", "alice")
    assert missing.exit_code == 1 and "LIVEKIT_API_KEY/SECRET" in missing.stderr
