"""One test per row of the exit-code table (``livekitex_cli.errors.ExitCode``), through the real
console script where the row is about the process (70, 130), and never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from livekitex_cli.cli import app
from livekitex_cli.errors import ExitCode
from livekitex_cli.testing import ScriptedOpenAI

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = str(ROOT / "agents/support-agent.yaml")
SERVER_ENV = {"LIVEKIT_API_KEY": "key", "LIVEKIT_API_SECRET": "s" * 40}


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedOpenAI:
    with ScriptedOpenAI.in_thread() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        for name, value in SERVER_ENV.items():
            monkeypatch.setenv(name, value)
        yield server


def test_table_is_the_documented_one() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "INVALID_INPUT": 1, "USAGE": 2, "CONNECTION": 3, "AUTH": 4, "EXTERNAL": 5,
        "RESOURCE": 6, "INTERNAL": 70, "INTERRUPTED": 130,
    }  # fmt: skip


def test_0_success() -> None:
    assert run("validate", SUPPORT).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", SUPPORT, "--max-jobs", "abc"], "Invalid value for '--max-jobs'"),
        (["start", SUPPORT, "--log-level", "bogus"], "Invalid value for '--log-level'"),
        (["start", SUPPORT, "--workers", "0"], "--workers: '0' must be a positive number"),
        (["console", SUPPORT, "--log-level", "loud"], "Invalid value for '--log-level'"),
        (["start", "{tmp}"], "no agent files"),
        (["validate", "{tmp}/missing.yaml"], "missing.yaml"),
    ],
)
def test_1_invalid_input(args: list[str], message: str, tmp_path: Path) -> None:
    result = run(*[arg.replace("{tmp}", str(tmp_path)) for arg in args])
    assert result.exit_code == 1, result.output
    assert message in result.output


@pytest.mark.parametrize(
    "args", [["frobnicate"], ["start", SUPPORT, "--bogus"], ["start"], ["dispatch", "create"]]
)
def test_2_usage(args: list[str]) -> None:
    assert run(*args).exit_code == 2


def test_3_server_unreachable(scripted: ScriptedOpenAI) -> None:
    url = f"ws://127.0.0.1:{closed_port()}"
    result = run("start", SUPPORT, "--url", url, "--health-port", "0")
    assert result.exit_code == 3
    assert "cannot" in result.stderr


def test_5_tool_failure() -> None:
    result = run("tools", "run", "get_time", "--args", '{"timezone": "Mars/Base"}')
    assert result.exit_code == 5
    assert "unknown time zone 'Mars/Base'" in result.stderr


def test_6_busy_health_port(scripted: ScriptedOpenAI) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        url = f"ws://127.0.0.1:{closed_port()}"
        result = run("start", SUPPORT, "--url", url, "--health-port", str(port))
    assert result.exit_code == 6
    assert f"health port 127.0.0.1:{port} cannot be used" in result.stderr
    assert "--health-port" in result.stderr


def test_6_missing_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    agent = tmp_path / "a.yaml"
    agent.write_text("name: a\ninstructions: Hi.\nllm: {provider: openai}\n")
    assert run("validate", "--check", str(agent)).exit_code == 6


def test_70_internal_error_is_one_line() -> None:
    """A bug (an exception no command expected) is one line and 70; LKX_DEBUG shows more."""
    script = (
        "import sys\n"
        "from livekitex_cli import cli\n"
        "@cli.app.command('explode')\n"
        "def explode() -> None:\n"
        "    raise RuntimeError('kaboom\\nsecond line')\n"
        "sys.argv = ['lkx', 'explode']\n"
        "cli.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LKX_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 70
    assert done.stderr.strip() == (
        "error: internal error: RuntimeError: kaboom (LKX_DEBUG=1 shows more)"
    )
    debug = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env={**env, "LKX_DEBUG": "1"}, timeout=60,
    )  # fmt: skip
    assert "Traceback" in debug.stderr


def sigint_as_in_a_terminal() -> None:
    """In the child: SIGINT at its default, as a terminal starts a command (a suite run in the
    background, ``cmd &`` in a script, has it ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_130_interrupted_console() -> None:
    """Ctrl-C at the console's prompt ends it with 130 and one line, even while it waits for
    typed input in a thread."""
    with ScriptedOpenAI.in_thread() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url}
        env.pop("OPENAI_API_KEY", None)
        lkx = str(Path(sys.executable).parent / "lkx")
        with subprocess.Popen(
            [lkx, "console", SUPPORT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, text=True, preexec_fn=sigint_as_in_a_terminal,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            deadline = time.monotonic() + 60
            seen = ""
            while "Type a message" not in seen and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                seen += line
            assert "Type a message" in seen
            process.send_signal(signal.SIGINT)
            try:
                _, stderr = process.communicate(timeout=30)
            finally:
                process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr and "Fatal" not in stderr
