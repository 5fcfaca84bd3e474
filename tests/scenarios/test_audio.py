"""Audio mode end to end on the local models: user turns spoken by piper go through the agent's
Silero VAD and faster-whisper STT; the agent (its LLM on the scripted server, so the answer is
known) speaks with piper, and its speech is transcribed back by faster-whisper for the checks."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

from livekitex_cli.testing import Text, ToolCalls
from tests.scenarios.conftest import RuleServer, line_of, lkx_test

LOCAL = all(find_spec(name) for name in ("onnxruntime", "faster_whisper", "piper_onnx"))
pytestmark = [
    pytest.mark.local_models,
    pytest.mark.skipif(not LOCAL, reason="the local extra is not installed"),
]
AGENT = """\
name: voice-test
instructions: You tell the time.
greeting: Hello there. What time do you need?
tools: [get_time]
llm: {provider: openai, model: scripted, max_retries: 0}
stt: {provider: local}
tts: {provider: local, noise_scale: 0, noise_w: 0}  # the same voice every run
vad: {provider: local}
min_endpointing_delay: 0.4
"""
SCENARIOS = """\
agent: agent.yaml
user: {modality: audio}
scenarios:
  - name: spoken
    turns:
      - expect:
          - {event: response, text_contains: [what time]}
      - say: What time is it in London?
        expect:
          - event: function_call
            calls: [{name: get_time, arguments: {timezone: London}}]
          - event: response
            text_contains: [morning]
            text_matches: '(?i)\\b(nine|9)\\b'  # whisper writes numbers either way
            within_ms: 30000
  - name: barge in
    turns:
      - say: Tell me a long story.
      - say: Please stop talking now.
        send_after: {event: speaking, delay_ms: 1500}
        expect:
          - event: interrupted
          - event: response
            text_contains: [what else]
  - name: misheard
    turns:
      - say: What time is it in London?
        expect:
          - event: response
            text_contains: [Paris]
"""


def test_spoken_turns_on_local_models(server: RuleServer, tmp_path: Path) -> None:
    server.rules.append((r"london", ToolCalls([("get_time", '{"timezone": "London"}')])))
    server.rules.append((r"story", Text("Once upon a time " + "there was a very long road. " * 12)))
    server.rules.append((r"stop|talking", Text("All right. What else can I do for you?")))
    server.tool_rules.append((r"GMT|BST", Text("It is nine o'clock in the morning.")))
    (tmp_path / "agent.yaml").write_text(AGENT)
    path = tmp_path / "audio.test.yaml"
    path.write_text(SCENARIOS)
    data = tmp_path / "out.json"
    result = lkx_test(str(path), "--json", str(data), "--jobs", "1")
    assert result.exit_code == 1, result.output  # 'misheard' must fail
    report = {s["name"]: s for s in json.loads(data.read_text())["scenarios"]}
    spoken = report["spoken"]
    assert spoken["passed"], result.output
    greeting, question = spoken["runs"][0]["turns"]
    assert "what time" in greeting["events"][0]["heard"].lower()  # piper varies: not every word
    assert "london" in question["heard"].lower()  # the agent's own STT understood the speech
    reply = question["events"][-1]
    assert reply["text"] == "It is nine o'clock in the morning."
    assert "morning" in reply["heard"].lower()
    assert reply["first_output_ms"] - question["input_ms"] > 400  # endpointing is in the span
    assert question["checks"][1]["passed"] and question["checks"][1]["message"].endswith(" ms")
    barge = report["barge in"]
    assert barge["passed"], result.output
    story = barge["runs"][0]["turns"][-1]["events"][0]
    assert story["interrupted"] and 0 < len(story["text"]) < 120  # what was heard of it
    misheard = report["misheard"]
    assert not misheard["passed"]
    where = f"{path}:{line_of(path, '[Paris]') - 1}"  # the expectation's first line
    assert f"FAILED {where}: response: the response lacks 'Paris'" in result.output
    assert "(the agent heard: " in result.output  # the transcript shows what its STT made of it
