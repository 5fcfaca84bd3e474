"""``lkx console`` against the scripted OpenAI-compatible server (running in its own thread)."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI, Status, ToolCalls
from tests.speech import needs_espeak, speech_wav

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def threaded_server(threaded_openai: ScriptedOpenAI) -> ScriptedOpenAI:
    return threaded_openai


def test_console_text_with_tool_calls(threaded_server: ScriptedOpenAI) -> None:
    threaded_server.push(ToolCalls([("lookup_order", '{"order_id": "A1001"}')]))
    result = CliRunner().invoke(
        app,
        [
            "console",
            str(ROOT / "agents/support-agent.yaml"),
            "-m",
            "where is A1001?",
            "-m",
            "thanks",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Hello! I can check an order" in result.output  # the greeting
    assert '-> lookup_order({"order_id": "A1001"})' in result.output
    assert '"status": "shipped"' in result.output
    assert "agent> You said: thanks" in result.output


def test_console_reports_provider_failure_and_goes_on(threaded_server: ScriptedOpenAI) -> None:
    threaded_server.push(Status(500), Status(500), Status(500))
    result = CliRunner().invoke(
        app, ["console", str(ROOT / "agents/support-agent.yaml"), "-m", "hello", "-m", "again"]
    )
    assert result.exit_code == 0
    assert "HTTP 500" in result.output
    assert "Sorry, our system is having trouble" in result.output
    assert "agent> You said: again" in result.output


@needs_espeak
def test_console_audio_in_and_out(threaded_server: ScriptedOpenAI, tmp_path: Path) -> None:
    threaded_server.transcript = "what time is it"
    spoken = speech_wav("What time is it?", tmp_path / "question.wav")
    out = tmp_path / "answer.wav"
    agent = tmp_path / "voice.yaml"
    agent.write_text(
        "name: voice\ninstructions: Be brief.\n"
        "llm: {provider: openai}\nstt: {provider: openai}\ntts: {provider: openai}\n"
        "vad: {provider: energy, threshold_db: -35}\n"
    )
    result = CliRunner().invoke(
        app, ["console", str(agent), "--audio-in", str(spoken), "--audio-out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "you (spoken)> what time is it" in result.output
    assert "agent> You said: what time is it" in result.output
    (question,) = threaded_server.stt_audio  # the spoken question reached the STT (1.1 s), whole
    assert 0.8 < question.seconds < 3.0 and question.dbfs > -35, question
    with wave.open(str(out)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(len("You said: what time is it") * 0.03, abs=0.05)


def test_console_bad_inputs_are_one_line(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["console", str(tmp_path / "nope.yaml"), "-m", "x"])
    assert missing.exit_code == 1 and "file not found" in missing.output
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"not a wav")
    agent = ROOT / "agents/support-agent.yaml"
    result = CliRunner().invoke(app, ["console", str(agent), "--audio-in", str(bad_wav)])
    assert result.exit_code == 1 and "not a PCM WAV file" in result.output
    assert "Traceback" not in missing.output + result.output


def test_console_without_any_llm_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    agent = tmp_path / "a.yaml"
    agent.write_text("name: a\ninstructions: x\nllm: {provider: openai}\n")
    done = subprocess.run(
        [sys.executable, "-m", "livekitex_cli", "console", str(agent), "-m", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "OPENAI_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
