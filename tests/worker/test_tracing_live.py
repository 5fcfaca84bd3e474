"""A worker job's trace, read back from a real Jaeger: the job is the root, each turn a span
under it, and the turn's steps (LLM rounds, tool calls, speech) its children, with their
attributes; the worker's log records carry the ids of the span they were made in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, Text, ToolCalls
from tests.jaeger import Jaeger, needs_jaeger
from tests.livekit_server import needs_server

pytestmark = [needs_server, needs_jaeger, pytest.mark.livekit, pytest.mark.slow]
SERVICE = "lkx-tracing-test"
AGENT = """\
name: traced-agent
instructions: Be brief.
tools: [lookup_order]
llm: {provider: openai, model: scripted}
tts: {provider: openai}
"""
ANSWER = "Your order A1002 is on its way."


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent(span: dict[str, Any]) -> str | None:
    refs = [ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"]
    return refs[0] if refs else None


async def job_trace(jaeger: Jaeger, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The spans of the one trace of ``SERVICE`` once its root (the job) is in: spans are sent
    in batches as they end, and the job's ends last."""
    async with asyncio.timeout(timeout):
        while True:
            traces = await asyncio.to_thread(jaeger.traces, SERVICE)
            spans = [span for trace in traces for span in trace["spans"]]
            if any(span["operationName"] == "job" for span in spans):
                assert len(traces) == 1, [t["traceID"] for t in traces]
                return list(traces[0]["spans"])
            await asyncio.sleep(0.2)


def ids(trace_id: str, span_id: str) -> tuple[int, int]:
    """As numbers: Jaeger's API leaves out a trace id's leading zeros."""
    return int(trace_id, 16), int(span_id, 16)


def records(output: str, message: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == message]


async def test_a_job_is_one_trace_with_a_span_tree_per_turn(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI, jaeger: Jaeger, tmp_path: Path
) -> None:
    agent_file = tmp_path / "traced.yaml"
    agent_file.write_text(AGENT)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
        "OTEL_SERVICE_NAME": SERVICE,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between batches
    }
    worker = start_worker(str(agent_file), env=env)
    # one round with two tool calls (one of them fails), then the answer
    calls = [("lookup_order", '{"order_id": "A1002"}'), ("no_such_tool", "{}")]
    threaded_openai.push(ToolCalls(calls), Text(ANSWER))
    user = await join("traced-room", "traced-agent")
    await user.wait_agent()
    await user.say("where is my order A1002?")
    assert await user.next_chat() == ANSWER
    await user.leave()
    await worker.until('"msg": "job ended"')

    spans = await job_trace(jaeger)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault(span["operationName"], []).append(span)
    (job,) = by_name["job"]
    assert parent(job) is None
    job_tags = tags(job)
    assert job_tags["lkx.agent"] == "traced-agent" and job_tags["lkx.room"] == "traced-room"
    job_id = job_tags["lkx.job.id"]
    assert job_id.startswith("AJ_")
    (turn,) = by_name["turn"]  # no greeting: the one turn is the question's
    assert parent(turn) == job["spanID"]
    turn_tags = tags(turn)
    assert turn_tags["lkx.job.id"] == job_id and turn_tags["lkx.room"] == "traced-room"
    assert turn_tags["lkx.agent"] == "traced-agent" and turn_tags["lkx.turn.source"] == "text"
    assert turn_tags["lkx.turn.tool_calls"] == 2

    children = sorted(
        (span for span in spans if parent(span) == turn["spanID"]), key=lambda s: s["startTime"]
    )
    names = [span["operationName"] for span in children]
    assert names[:4] == ["llm", "tool", "tool", "llm"], names
    assert set(names[4:]) == {"tts"}, names
    first_llm, *tools, second_llm = children[:4]
    outcomes = {tags(tool)["lkx.tool.name"]: tags(tool)["lkx.tool.outcome"] for tool in tools}
    assert outcomes == {"lookup_order": "ok", "no_such_tool": "error"}
    for llm in (first_llm, second_llm):
        assert tags(llm)["lkx.llm.ttft_ms"] > 0 and tags(llm)["lkx.service"] == "llm openai"
        assert tags(llm)["gen_ai.usage.input_tokens"] > 0
        assert tags(llm)["gen_ai.usage.output_tokens"] > 0
    for tts in children[4:]:
        assert tags(tts)["lkx.tts.ttfb_ms"] > 0
    # in order: the tools ran after the first round ended, the second round after them
    first_end = first_llm["startTime"] + first_llm["duration"]
    assert all(tool["startTime"] >= first_end for tool in tools)
    assert second_llm["startTime"] >= max(t["startTime"] + t["duration"] for t in tools)

    # the log records of the job and of the turn carry their span's ids
    output = worker.output()
    (started,) = records(output, "job started")
    assert ids(started["otelTraceID"], started["otelSpanID"]) == ids(job["traceID"], job["spanID"])
    (failed,) = records(output, "tool call failed")
    assert ids(failed["otelTraceID"], failed["otelSpanID"]) == ids(turn["traceID"], turn["spanID"])
    assert all("otelTraceID" not in line for line in records(output, "worker registered"))
