"""The first reply of an offline conversation: a fresh process, the example voice assistant on
the local models, a typed question some seconds after the session started (as after a greeting
and a spoken question), timed until the whole reply is in (a tool call and an answer).

The local LLM must read the agent's instructions and tool descriptions before its first word.
A session starts that reading when it starts, and saves it (``prompt_store``): ``nothing
saved`` is a first run on a machine, ``saved`` every run after it. With 0 s of head start a
prepared session is where lkx was before preparing (the question waits for the same reading).

Run: ``python -m bench first_reply [--json FILE]`` (needs the local extra).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import ROOT, report

QUESTION = "What is the weather like in Paris today?"
CHILD = """
import asyncio, sys, time
from livekitex_cli.agent import load_agents
from livekitex_cli.session import AgentSession

async def main():
    agent = load_agents(["agents/voice-assistant.yaml"])[0]
    session = AgentSession(agent=agent, speak=False)
    await session.start()
    await asyncio.sleep(float(sys.argv[1]))
    asked = time.perf_counter()
    await session.run(user_input=sys.argv[2], timeout=180)
    print(round(time.perf_counter() - asked, 2))
    await session.aclose()

asyncio.run(main())
"""
RUNS = 2


def local_env(store: str) -> dict[str, str]:
    """The environment of a child process: prompt prefixes saved in ``store``, and no OpenAI
    settings, so the example agent runs on the local models."""
    env = {**os.environ, "LKX_PROMPT_CACHE": store}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    return env


def reply_seconds(head_start: float, store: str) -> float:
    env = local_env(store)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(head_start), QUESTION],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


async def run() -> dict[str, Any]:
    out: dict[str, Any] = {"question": QUESTION, "runs": RUNS}
    for head_start in (0.0, 7.0):
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(RUNS):
            store = tempfile.mkdtemp(prefix="lkx-bench-prompts-")
            try:
                cold.append(reply_seconds(head_start, store))
                warm.append(reply_seconds(head_start, store))
            finally:
                shutil.rmtree(store, ignore_errors=True)
        out[f"asked after {head_start:g} s"] = {
            "nothing saved s (median)": round(statistics.median(cold), 2),
            "saved s (median)": round(statistics.median(warm), 2),
        }
        print(head_start, cold, warm, flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    report("first_reply", argv, run)
