"""``lkx connect AGENT.yaml --room NAME`` as a real process against the real LiveKit server: it
joins one room directly, without dispatch, answers typed chat and leaves when the room closes;
refused credentials and an unreachable server are one line and their exit codes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from livekit import api

from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import KEY, SECRET, LiveKitServer, closed_port, needs_server
from tests.worker.conftest import ROOT, Participant

SUPPORT = "agents/support-agent.yaml"
GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"


def connect(room: str, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **env}
    environment.pop("OPENAI_API_KEY", None)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "livekitex_cli", "connect", SUPPORT, "--room", room, *args],
            env=environment, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip


def ended(process: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


@needs_server
@pytest.mark.livekit
async def test_connect_joins_the_room_and_answers(
    livekit_server: LiveKitServer,
    livekit_api: api.LiveKitAPI,
    join: Participant,
    threaded_openai: ScriptedOpenAI,
    tmp_path: Path,
) -> None:
    env = {"LIVEKIT_URL": livekit_server.url, "LIVEKIT_API_KEY": KEY,
           "LIVEKIT_API_SECRET": SECRET, "OPENAI_BASE_URL": threaded_openai.base_url}  # fmt: skip
    log = tmp_path / "connect.log"
    user = await join("direct-room")  # type: ignore[operator]  # no dispatch: nobody sends one
    process = connect("direct-room", env, log)
    try:
        agent = await user.wait_agent(timeout=60)
        assert agent.identity == "agent-support-agent"
        assert await user.next_chat() == GREETING
        await user.say("hello over a direct connection")
        assert await user.next_chat() == "You said: hello over a direct connection"
        await livekit_api.room.delete_room(api.DeleteRoomRequest(room="direct-room"))
        code = await asyncio.to_thread(ended, process, 30)
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 5)
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert "joined room 'direct-room' as support-agent" in output and "Traceback" not in output


@needs_server
@pytest.mark.livekit
@pytest.mark.fault("refused room join token")
def test_connect_with_refused_credentials_is_one_line_and_exit_4(
    livekit_server: LiveKitServer, tmp_path: Path, threaded_openai: ScriptedOpenAI
) -> None:
    wrong = "a-wrong-secret-that-is-long-enough-for-hs256-0123"
    env = {"LIVEKIT_URL": livekit_server.url, "LIVEKIT_API_KEY": KEY,
           "LIVEKIT_API_SECRET": wrong, "OPENAI_BASE_URL": threaded_openai.base_url}  # fmt: skip
    log = tmp_path / "connect.log"
    code = ended(connect("refused-room", env, log), 60)
    output = log.read_text(errors="replace")
    assert code == 4, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "refused" in errors[0], output
    assert "Traceback" not in output and "eyJ" not in output  # nor the join token
    assert wrong not in output


@pytest.mark.fault("unreachable LiveKit server")
def test_connect_to_an_unreachable_server_is_one_line_and_exit_3(
    tmp_path: Path, threaded_openai: ScriptedOpenAI
) -> None:
    log = tmp_path / "connect.log"
    with closed_port() as port:  # nothing listens there
        env = {"LIVEKIT_URL": f"ws://127.0.0.1:{port}", "LIVEKIT_API_KEY": KEY,
               "LIVEKIT_API_SECRET": SECRET, "OPENAI_BASE_URL": threaded_openai.base_url}  # fmt: skip
        code = ended(connect("nowhere", env, log), 90)
    output = log.read_text(errors="replace")
    assert code == 3, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"ws://127.0.0.1:{port}" in errors[0], output
    assert "Traceback" not in output and "eyJ" not in output
