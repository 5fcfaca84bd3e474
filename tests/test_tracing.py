"""Tracing is asked for by the ``OTEL_*`` environment only: off, nothing of OpenTelemetry is
imported; on, each turn is a span with a child per step; on without the ``otel`` extra, a
one-line error names the extra. (Traces read back from a real Jaeger:
tests/worker/test_tracing_live.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.tracing import configured
from tests.livekit_server import closed_port
from tests.speech import needs_espeak, speech_wav

ROOT = Path(__file__).resolve().parents[1]
# the CLI, then which OpenTelemetry modules the process imported, on stderr's last line
CLI = """
import sys
from livekitex_cli.cli import main
try:
    main()
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    print("opentelemetry modules:", loaded, file=sys.stderr)
"""
NO_EXTRA = "import sys; sys.modules['opentelemetry.sdk'] = None\n" + CLI  # import fails
VOICE = """\
name: voice
instructions: Be brief.
tools: [lookup_order]
llm: {provider: openai}
stt: {provider: openai}
tts: {provider: openai}
vad: {provider: energy, threshold_db: -35}
turn: {preset: snappy, detection: vad}  # silence decides, as fast as the file is read
"""
CALL = 'call lookup_order {"order_id": "A1002"}'


def environment(**otel: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**env, **otel}


def lkx(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def spans(text: str) -> list[dict[str, Any]]:
    """The spans the console exporter wrote (indented JSON objects, one after another)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find('{\n    "name"', at)) >= 0:
        span, at = decoder.raw_decode(text, at)
        found.append(span)
    return found


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "lkx"}, False),  # a name alone sends nothing anywhere
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_the_otel_environment_turns_tracing_on(env: dict[str, str], on: bool) -> None:
    assert configured(env) is on


@needs_espeak
def test_a_spoken_turn_is_traced_only_when_asked(
    threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    threaded_openai.transcript = CALL  # the echo model calls the tool, then reads its result
    agent = tmp_path / "voice.yaml"
    agent.write_text(VOICE)
    spoken = speech_wav("Where is my order?", tmp_path / "question.wav")
    heard = tmp_path / "answer.wav"
    args = ["console", str(agent), "--audio-in", str(spoken), "--audio-out", str(heard)]

    off = lkx(CLI, args, environment())
    assert off.returncode == 0, off.stderr
    assert "The tool said:" in off.stdout
    assert off.stderr.splitlines()[-1] == "opentelemetry modules: []"

    on = lkx(CLI, args, environment(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="lkx-t"))
    assert on.returncode == 0, on.stderr
    found = spans(on.stderr)
    by_id = {span["context"]["span_id"]: span for span in found}
    (root,) = [span for span in found if span["parent_id"] is None]
    assert root["name"] == "console session"
    assert root["attributes"] == {"lkx.agent": "voice", "lkx.room": "console"}
    assert root["resource"]["attributes"]["service.name"] == "lkx-t"
    (turn,) = [s for s in found if s["attributes"].get("lkx.turn.source") == "audio"]
    assert turn["parent_id"] == root["context"]["span_id"]
    assert turn["attributes"]["lkx.turn.tool_calls"] == 1
    children = sorted(
        (span for span in found if span["parent_id"] == turn["context"]["span_id"]),
        key=lambda span: span["start_time"],
    )
    names = [span["name"] for span in children]
    assert names[:5] == ["end_of_turn", "stt", "llm", "tool", "llm"], names
    assert set(names[5:]) == {"tts"}, names
    eot, stt, first_llm, tool, _ = children[:5]
    assert eot["attributes"]["lkx.end_of_turn.detection"] == "vad"
    assert eot["end_time"] <= stt["start_time"]
    for llm in (first_llm, children[4]):
        assert llm["attributes"]["lkx.llm.ttft_ms"] > 0
        assert llm["attributes"]["gen_ai.usage.input_tokens"] > 0  # the scripted server counts
        assert llm["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert tool["attributes"]["lkx.tool.name"] == "lookup_order"
    assert tool["attributes"]["lkx.tool.outcome"] == "ok"
    assert all(span["attributes"]["lkx.tts.ttfb_ms"] > 0 for span in children[5:])
    assert all(span["context"]["trace_id"] == root["context"]["trace_id"] for span in found)
    assert len(by_id) == len(found)


@pytest.mark.parametrize("command", ["console", "start"])
def test_tracing_without_the_extra_is_a_one_line_error(
    command: str, threaded_openai: ScriptedOpenAI
) -> None:
    with closed_port() as port:
        args = [command, "agents/support-agent.yaml"]
        if command == "console":
            args += ["-m", "hello"]
        else:
            args += ["--url", f"ws://127.0.0.1:{port}", "--api-key", "k", "--api-secret", "s" * 32]
        env = environment(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
        result = lkx(NO_EXTRA, args, env)
    lines = result.stderr.splitlines()
    assert result.returncode == 6, result.stderr
    assert lines[0] == (
        "error: tracing: OTEL_* asks for traces but the otel extra is not installed"
        " (pip install 'livekitex-cli[otel]')"
    )
    assert len(lines) == 2 and "Traceback" not in result.stderr
