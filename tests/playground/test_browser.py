"""The playground in a real browser (Debian's chromium, a fake microphone playing real speech)
against ``lkx dev``, its local LiveKit server and a worker on the scripted OpenAI server."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.providers.audio import write_wav
from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import KEY, SECRET, LiveKitServer, dev_env, free_port, needs_server
from tests.playground.conftest import drive, driven, needs_browser, start_driver
from tests.speech import needs_espeak, silence_chunk, speech_chunk

pytestmark = [needs_server, needs_browser, pytest.mark.livekit]
faster_whisper = pytest.importorskip("faster_whisper", reason="the local extra (whisper) is needed")
VOICE = """\
name: playground-voice
instructions: Be brief.
greeting: Hello from the playground.
llm: {provider: openai, model: scripted}
stt: {provider: local}
tts: {provider: openai}
vad: {provider: energy, threshold_db: -35}
min_endpointing_delay: 0.4
"""
BROKEN = """\
name: playground-broken
instructions: Be brief.
llm: {provider: openai, model: scripted}
stt: {provider: openai}
tts: {provider: openai}
vad: {provider: local, model_path: MODEL}
"""
TEXT = """\
name: playground-text
instructions: Be brief.
greeting: Type to me.
llm: {provider: openai, model: scripted}
"""
QUESTION = "What is the weather in Paris?"


def words(text: str) -> set[str]:
    """The words of ``text``, lower case, without punctuation ("Paris." is "paris")."""
    return {word.strip(".,?!;:") for word in text.lower().split()} - {""}


def agents(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "voice.yaml").write_text(VOICE)
    (folder / "text.yaml").write_text(TEXT)
    garbage = tmp_path / "garbage.onnx"  # a file, so preflight passes; no model, so the job fails
    garbage.write_bytes(b"not an onnx model")
    (folder / "broken.yaml").write_text(BROKEN.replace("MODEL", str(garbage)))
    return folder


@needs_espeak
def test_a_spoken_and_typed_conversation_in_the_browser(
    start_dev, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    wav = tmp_path / "question.wav"
    # the microphone opens once the agent is ready; the question starts after 3 s of quiet,
    # after the 1 s greeting even when the machine is busy: talking over the first second of
    # an agent's first reply is another case (the echo guard has not judged the call yet,
    # test_echo_guard.py), and under two suites it lost "What is" here
    speech = [
        silence_chunk(3.0, 48_000),
        speech_chunk(QUESTION, 48_000),
        silence_chunk(2.0, 48_000),
    ]
    write_wav(str(wav), speech, sample_rate=48_000)
    # debug: each turn's timeline (what the STT heard, when) is in the output if this fails
    dev = start_dev(agents(tmp_path), "--log-level", "debug", env=dev_env(threaded_openai.base_url))
    url = dev.playground_url()
    dev.wait_for("worker ready in")
    shot = tmp_path / "playground.png"
    config = {
        "scenario": "conversation",
        "url": url,
        "wav": str(wav),
        "agent": "playground-voice",
        "expectUser": "",  # any line: what whisper heard is checked below
        "expectAgent": "You said: ",
        "message": "hello from the keyboard",
        "expectReply": "You said: hello from the keyboard",
        "screenshot": str(shot),
        "then": {
            "agent": "playground-text",
            "expectGreeting": "Type to me.",
            "message": "and now in text",
            "expectReply": "You said: and now in text",
        },
    }
    misheard: list[str] = []
    while True:
        result = drive(config, tmp_path)
        # on any failure, the whole of it: what the page showed, and what lkx dev said
        shown = f"{json.dumps(result, indent=1)}\n--- lkx dev:\n{dev.output()[-8000:]}"
        if "error" in result:
            pytest.fail(shown)
        heard = next(
            line["text"]
            for line in result["lines"]
            if (line["speaker"], line["kind"]) == ("user", "speech")
        )
        if heard_right(heard) or misheard:
            break
        # whisper tiny.en sits on a knife-edge with espeak-ng through a browser and Opus: one
        # bit of noise flipped a word (a user's try: 22 of 30 decodes of one recording right),
        # and a busy machine's browser damages the audio more ("What is not where the empire
        # is?" once in about ten CI runs): one more call, in a new room, before it fails
        misheard.append(heard)
    try:
        check_conversation(result, shot)
    except AssertionError as failed:
        pytest.fail(f"{failed}\nmisheard first: {misheard}\n{shown}")
    if target := os.environ.get("LKX_PLAYGROUND_SCREENSHOT"):
        shutil.copyfile(shot, target)  # scripts/playground-screenshot.sh keeps it under docs/
    print("playground timings (ms after the click):", result["timings"], result["steps"])
    print("timeline:", result["timeline"])
    print("streams:", json.dumps(result["streams"], indent=1))


def heard_right(heard: str) -> bool:
    """Whether whisper heard the question, give or take two words: it slips on audio a busy
    machine's browser damaged ("is the weather in Paris.", "What is now ever in Paris?")."""
    said, understood = words(QUESTION), words(heard)
    return len(said & understood) >= len(said) - 2 and "paris" in understood


def check_conversation(result: dict[str, Any], shot: Path) -> None:
    texts = [(line["speaker"], line["kind"], line["text"]) for line in result["lines"]]
    heard = next(t for s, k, t in texts if (s, k) == ("user", "speech"))
    assert heard_right(heard), heard
    assert ("agent", "speech", f"You said: {heard}") in texts  # the answer to what was heard
    assert ("agent", "speech", "Hello from the playground.") in texts  # the greeting, spoken
    assert ("user", "chat", "hello from the keyboard") in texts
    # the typed answer is shown once, although lkx sends it as chat and as transcription
    assert sum("hello from the keyboard" in t and s == "agent" for s, _, t in texts) == 1
    assert result["agentPeak"] > 0.01  # the agent's track, measured by an AnalyserNode
    assert {"listening", "thinking", "speaking"} <= set(result["agentStates"])
    assert result["muted"] is True and result["left"] is True
    assert result["problems"] == []
    # then a text agent in a new room: its greeting and answers come as chat and transcription,
    # and each shows once
    assert result["newRoom"] is True
    then = [(line["speaker"], line["text"]) for line in result["then"]["lines"]]
    assert then == [
        ("agent", "Type to me."),
        ("user", "and now in text"),
        ("agent", "You said: and now in text"),
    ]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_says_when_the_agent_fails(
    start_dev, livekit_server: LiveKitServer, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Against a server given by LIVEKIT_URL (not one lkx dev starts): the agent's job fails in
    the room, and the page says so with the worker's reason."""
    env = dev_env(
        threaded_openai.base_url,
        LIVEKIT_URL=livekit_server.url,
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
    )
    dev = start_dev(agents(tmp_path), env=env)
    url = dev.playground_url()
    dev.wait_for("worker ready in")
    assert "local LiveKit server" not in dev.output()
    result = drive(
        {"scenario": "failure", "url": url, "wav": "/dev/null", "agent": "playground-broken"},
        tmp_path,
    )
    assert "error" not in result, result
    assert result["phase"] == "failed"
    assert "The agent 'playground-broken' failed to start in this room: " in result["notice"]
    assert "garbage.onnx" in result["notice"]  # the worker's reason, from its /worker endpoint


def test_the_page_says_when_the_server_is_down(
    start_dev, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    dead = f"ws://127.0.0.1:{free_port()}"
    secret = "a-secret-long-enough-for-hs256-0123456789abcdef"
    env = dev_env(
        threaded_openai.base_url, LIVEKIT_URL=dead, LIVEKIT_API_KEY="key", LIVEKIT_API_SECRET=secret
    )
    dev = start_dev(agents(tmp_path), env=env)
    url = dev.playground_url()
    result = drive(
        {"scenario": "failure", "url": url, "wav": "/dev/null", "agent": "playground-voice"},
        tmp_path,
    )
    assert "error" not in result, result
    assert f"the LiveKit server at {dead} is not reachable" in result["notice"]


def test_the_page_says_when_the_server_goes_away(
    start_dev, livekit_server: LiveKitServer, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    env = dev_env(
        threaded_openai.base_url,
        LIVEKIT_URL=livekit_server.url,
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
    )
    dev = start_dev(agents(tmp_path), env=env)
    url = dev.playground_url()
    dev.wait_for("worker ready in")
    ready = tmp_path / "in-conversation"
    driver = start_driver(
        {"scenario": "dropped", "url": url, "wav": "/dev/null", "agent": "playground-text",
         "readyFile": str(ready)},
        tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    livekit_server.kill()  # in the middle of the conversation
    result = driven(driver)
    assert "error" not in result, result
    # lkx dev's status says so within seconds; the SDK only after its ping timeout (~15 s)
    assert (
        f"The LiveKit server went away: the LiveKit server at {livekit_server.url} is not reachable (connection refused)"
        in result["notice"]
    )
    print("notice", result["noticeAfterMs"], "ms after the server was stopped")
    # Ctrl-C drains, and the conversation cannot end with its server gone: Ctrl-C again
    dev.interrupt()
    dev.wait_for("Ctrl-C again to stop now")
    dev.interrupt()
    assert dev.process.wait(15) == 0
    assert "stopping now" in dev.output() and "Traceback" not in dev.output()
