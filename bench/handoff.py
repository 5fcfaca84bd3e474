"""Handoff switch time: from a transfer asked for (the tool call has returned) until the new
agent is in place (history rule applied, agent copied, its activity and providers built, the
old activity closed, the event out); the new agent's greeting and its TTS are not included.

    python -m bench handoff [--switches 500]

Two text agents (LLM ``openai``, built but never called) and two voice agents (``openai`` LLM,
STT and TTS plus the energy VAD), each handing to the other and back, with a 40-turn history
(``full`` context). Goal: < 5 ms at p95. Numbers are printed (and returned), never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.common import stats
from livekitex_cli import Agent, ToolRegistry
from livekitex_cli.session import AgentSession
from livekitex_cli.session.handoff import Pending, resolve_handoffs

LLM = "llm: {provider: openai, model: bench, base_url: 'http://127.0.0.1:9/v1'}\n"
VOICE = (
    "stt: {provider: openai, model: whisper-1, base_url: 'http://127.0.0.1:9/v1'}\n"
    "tts: {provider: openai, model: tts-1, base_url: 'http://127.0.0.1:9/v1'}\n"
    "vad: {provider: energy}\n"
)


def pair(folder: Path, voice: bool) -> Agent:
    for name, other in (("a", "b"), ("b", "a")):
        (folder / f"{name}.yaml").write_text(
            f"name: {name}\ninstructions: Agent {name}.\ngreeting: {name} here.\n{LLM}"
            + (VOICE if voice else "")
            + f"handoffs: [{{agent: {other}, description: to {other}}}]\n"
        )
    agent = Agent.from_yaml(folder / "a.yaml", tools=ToolRegistry())
    resolve_handoffs([agent])
    return agent


async def switches(agent: Agent, count: int) -> list[float]:
    session = AgentSession(agent=agent, speak=True)
    for index in range(20):
        session.history.add("user", f"question {index}")
        session.history.add("agent", f"answer {index}")
    times = []
    try:
        for _ in range(count):
            source = session.agent
            spec = source.spec.handoffs[0]
            session.handoffs.pending = Pending(
                source, source.handoff_targets[spec.agent], spec, "bench"
            )
            session.handoffs.in_turn = 0
            started = time.perf_counter()
            follow = await session.handoffs.complete()
            times.append((time.perf_counter() - started) * 1000)
            assert follow is not None and session.agent is not source
    finally:
        await session.aclose()
    return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--switches", type=int, default=500)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with TemporaryDirectory() as tmp:
        for voice in (False, True):
            folder = Path(tmp) / ("voice" if voice else "text")
            folder.mkdir()
            times = asyncio.run(switches(pair(folder, voice), args.switches))
            kind = "voice" if voice else "text"
            results[f"handoff_switch_ms_{kind}"] = stats(times[10:])  # first few warm up
    for name, figures in results.items():
        print(f"{name}: median {figures['median']} ms, p95 {figures['p95']} ms (n={figures['n']})")
    return results


if __name__ == "__main__":
    main()
