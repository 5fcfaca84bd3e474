"""``lkx console --trace-turns`` prints each spoken turn's timeline with its decisions."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI
from tests.speech import needs_espeak, speech_wav


@needs_espeak
def test_console_traces_spoken_turns(threaded_openai: ScriptedOpenAI, tmp_path: Path) -> None:
    threaded_openai.transcript = "what time is it"
    spoken = speech_wav("What time is it?", tmp_path / "question.wav")
    agent = tmp_path / "voice.yaml"
    agent.write_text(
        "name: voice\ninstructions: Be brief.\n"
        "llm: {provider: openai}\nstt: {provider: openai}\ntts: {provider: openai}\n"
        "vad: {provider: energy, threshold_db: -35}\nturn: {preset: snappy, detection: vad}\n"
    )
    command = ["console", str(agent), "--audio-in", str(spoken)]
    traced = CliRunner().invoke(app, [*command, "--trace-turns"])
    assert traced.exit_code == 0, traced.output
    lines = traced.output.splitlines()
    steps = [line.split()[2] for line in lines if line.startswith("  ") and " ms " in line]
    assert steps[:2] == ["speech_start", "end_of_turn"]
    assert {"stt_final", "llm_first_token", "reply_end"} <= set(steps)
    assert "min_delay 0.3 s (vad)" in traced.output  # the end-of-turn decision and why
    plain = CliRunner().invoke(app, command)
    assert plain.exit_code == 0 and "end_of_turn" not in plain.output
