"""A whole offline conversation: the example voice assistant on the local models, six typed
turns one after the other (tool calls, answers, small talk), each timed from the question to
the end of the reply, the prompt tokens llama.cpp read for it (the rest came from its
prompt caches) and what the agent said. The instructions are prepared and saved first (as
from a second run on a machine), so the figures are the turns' own cost.

Run: ``python -m bench conversation [--json FILE]`` (needs the local extra).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import ROOT, report
from bench.first_reply import local_env

TURNS = [
    "What is the weather in Tokyo?",
    "And what time is it there?",
    "Thanks! Tell me one fun fact about Tokyo.",
    "What is the weather in Paris?",
    "Which of the two cities is warmer?",
    "Great, thank you. Goodbye!",
]
CHILD = """
import asyncio, json, sys, time
from livekitex_cli.agent import load_agents
from livekitex_cli.providers.local import runtime
from livekitex_cli.session import AgentSession

read = []
original, whole = runtime.LlamaRuntime.stream, runtime.LlamaRuntime.complete
def stream(self, request, on_chunk):
    def seen(chunk):
        if "timings" in chunk:
            read.append(chunk["timings"]["prompt_n"])
        return on_chunk(chunk)
    return original(self, request, seen)
def complete(self, request):
    result = whole(self, request)
    read.append(result.get("timings", {}).get("prompt_n", 0))
    return result
runtime.LlamaRuntime.stream, runtime.LlamaRuntime.complete = stream, complete

async def main():
    agent = load_agents(["agents/voice-assistant.yaml"])[0]
    session = AgentSession(agent=agent, speak=False)
    await session.start()
    await session.wait_idle(300)
    rows = []
    for question in json.loads(sys.argv[1]):
        read.clear()
        asked = time.perf_counter()
        await session.run(user_input=question, timeout=300)
        took = round(time.perf_counter() - asked, 2)
        said = [t.content for t in session.history.turns if t.role == "agent"][-1:]
        rows.append([took, sum(read), " ".join(said)])
    print(json.dumps(rows))
    await session.aclose()

asyncio.run(main())
"""


def conversation(store: str) -> list[list[Any]]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(TURNS)],
        cwd=ROOT, env=local_env(store), capture_output=True, text=True, timeout=1800, check=True,
    )  # fmt: skip
    rows: list[list[Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


async def run() -> dict[str, Any]:
    store = tempfile.mkdtemp(prefix="lkx-bench-prompts-")
    try:
        conversation(store)  # prepares and saves the instructions' prefix
        rows = conversation(store)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    seconds = [row[0] for row in rows]
    out: dict[str, Any] = {
        "turns": [
            {"question": q, "seconds": s, "prompt_tokens_read": int(n), "reply": said}
            for q, (s, n, said) in zip(TURNS, rows, strict=True)
        ],
        "seconds_per_turn_median": round(statistics.median(seconds), 2),
        "seconds_total": round(sum(seconds), 1),
        "prompt_tokens_read_total": int(sum(row[1] for row in rows)),
    }
    print(out, flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    report("conversation", argv, run)
