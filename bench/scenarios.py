"""``lkx test`` costs: the runner's overhead per turn, and a suite of 200 scenarios.

    python -m bench scenarios [--turns 300] [--scenarios 200] [--jobs 1 8 32]

1. Per-turn overhead of the runner over a bare session, in process, with an instant LLM (a tool
   call, then a reply): the runner's own work per turn (recording every event, collecting the
   result, checking a function call and a response expectation), timed directly; and whole
   turns, alternately bare (``process_text`` + ``wait_idle``) and through the runner, on one
   session. Goal: the runner's own work < 2 ms at p95.
2. 200 text scenarios (two turns each: a tool call and a reply, then a reply) in 10 files, with
   an instant scripted OpenAI-compatible server in this process, ``lkx test`` in a child process,
   wall time for each ``--jobs``. Goal: < 10 s on 2 cores.

Numbers are printed (and returned), never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import stats
from bench.instant import InstantLLM
from livekitex_cli import create_agent
from livekitex_cli.providers import ChatDelta, ChatMessage, ToolCall
from livekitex_cli.scenarios.audio import TextDriver
from livekitex_cli.scenarios.expect import check_turn
from livekitex_cli.scenarios.runner import finish, wait_turn
from livekitex_cli.scenarios.schema import CallSpec, FunctionCallExpect, ResponseExpect, Turn
from livekitex_cli.session import AgentSession
from livekitex_cli.session.run_result import Recording
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.tools import FunctionTool


class InstantToolLLM(InstantLLM):
    """Calls ``get_weather`` once per user message, then answers at once."""

    async def _chat_impl(  # type: ignore[override]
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> Any:
        if tools and messages[-1]["role"] == "user":
            yield ChatDelta(tool_call=ToolCall("call_1", "get_weather", '{"city": "Paris"}'))
            return
        async for delta in super()._chat_impl(messages, tools, tool_choice):
            yield delta


class TimedRecording(Recording):
    """A recording that adds up the time its event listener takes."""

    spent = 0.0

    def _record(self, event: Any) -> None:
        started = time.perf_counter()
        super()._record(event)
        self.spent += time.perf_counter() - started


async def turn_overhead(turns: int) -> dict[str, Any]:
    """Per turn: the runner's own work (recording every event, waiting, collecting the
    result, checking two expectations) timed directly, and whole turns bare and through the
    runner, alternately on one session."""
    agent = create_agent(name="bench", instructions="Be brief.", tools=["get_weather"])
    session = AgentSession(agent=agent, llm=InstantToolLLM(), speak=False)
    await session.start()
    await session.wait_idle(5)
    driver, turn = TextDriver(), Turn(user="What is the weather in Paris?")
    expect = [
        FunctionCallExpect(event="function_call", calls=[CallSpec(name="get_weather")]),
        ResponseExpect(event="response", text_contains=["sunny"], within_ms=1000),
    ]
    bare: list[float] = []
    runner: list[float] = []
    own: list[float] = []
    for index in range(2 * turns + 20):  # the first 20 warm up
        started = time.perf_counter()
        if index % 2:
            await session.process_text("What is the weather in Paris?")
            await session.wait_idle(5)
            took, into = time.perf_counter() - started, bare
        else:
            recording = TimedRecording(session, turn.text)
            made = time.perf_counter()
            await driver.send(session, recording, turn)
            done = await wait_turn(session, recording, None, 5)
            waited = time.perf_counter()
            checks = await check_turn(expect, finish(recording, not done), None)
            assert all(check.passed for check in checks), checks
            ended = time.perf_counter()
            took, into = ended - started, runner
            if index >= 20:
                own.append(((made - started) + (ended - waited) + recording.spent) * 1000)
        if index >= 20:
            into.append(took * 1000)
    await session.aclose()
    return {
        "runner_own_ms": stats(own),
        "bare_turn_ms": stats(bare),
        "runner_turn_ms": stats(runner),
    }


AGENT = """\
name: bench-agent
instructions: Answer briefly.
greeting: Hello.
tools: [get_weather]
llm: {provider: openai, model: scripted, max_retries: 0}
"""
SCENARIO = """\
  - name: weather {n}
    turns:
      - user: 'call get_weather {{"city": "Paris"}}'
        expect:
          - event: function_call
            calls: [{{name: get_weather, arguments: {{city: Paris}}}}]
          - event: response
            text_contains: Paris
      - user: thanks {n}
        expect:
          - event: response
            text_contains: "thanks {n}"
"""


def write_suite(folder: Path, scenarios: int, files: int = 10) -> None:
    (folder / "agent.yaml").write_text(AGENT)
    per_file = -(-scenarios // files)
    for file in range(files):
        numbers = range(file * per_file, min(scenarios, (file + 1) * per_file))
        body = "".join(SCENARIO.format(n=n) for n in numbers)
        (folder / f"suite{file:02d}.test.yaml").write_text(f"agent: agent.yaml\nscenarios:\n{body}")


def suite_wall(scenarios: int, jobs: list[int], repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, ScriptedOpenAI.in_thread() as server:
        write_suite(Path(folder), scenarios)
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url}
        env.pop("OPENAI_API_KEY", None)
        for count in jobs:
            walls = []
            for _ in range(repeats):
                report = Path(folder) / "report.json"
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "livekitex_cli", "test", folder, "--jobs", str(count),
                     "--json", str(report)],
                    capture_output=True, text=True, timeout=600, env=env,
                )  # fmt: skip
                walls.append(time.perf_counter() - started)
                data = json.loads(report.read_text())
                if done.returncode != 0 or data["counts"]["passed"] != scenarios:
                    raise RuntimeError(f"the suite failed: {done.stdout[-2000:]}")
            results[f"jobs_{count}"] = {
                "wall_s": stats(walls),
                "runner_s": data["seconds"],  # inside lkx test, without process start-up
            }
    return results


def run(
    turns: int = 300, scenarios: int = 200, jobs: tuple[int, ...] = (1, 8, 32)
) -> dict[str, Any]:
    return {
        "turn_overhead": asyncio.run(turn_overhead(turns)),
        "suite": {"scenarios": scenarios, **suite_wall(scenarios, list(jobs), repeats=3)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)
    results = run(args.turns, args.scenarios, tuple(args.jobs))
    overhead = results["turn_overhead"]
    for key, label in (
        ("runner_own_ms", "runner's own work per turn (goal < 2 ms p95)"),
        ("bare_turn_ms", "a whole turn, bare session"),
        ("runner_turn_ms", "a whole turn, through the runner"),
    ):
        print(f"{label}: median {overhead[key]['median']} ms, p95 {overhead[key]['p95']} ms")
    for key, value in results["suite"].items():
        if key.startswith("jobs_"):
            wall = value["wall_s"]
            print(
                f"{results['suite']['scenarios']} scenarios, --jobs {key[5:]}: wall median {wall['median']} s, p95 {wall['p95']} s (in lkx test {value['runner_s']} s; goal < 10 s)"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
