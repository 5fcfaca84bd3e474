"""The framework's own cost per turn, with instant providers (issue 3 / issue 5 item 3).

- text: ``process_text`` -> first agent text delta
- voice: the audio chunk that ends the user's turn is pushed -> first agent audio frame

Run: ``python -m bench.turn_overhead [--turns 200]``. Prints p50/p95/min/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from bench.instant import InstantLLM, InstantSTT, InstantTTS, tone
from livekitex_cli import create_agent
from livekitex_cli.providers.energy import EnergyVAD
from livekitex_cli.session import AgentSession, PacedOutput


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "min_ms": round(ordered[0], 3),
        "max_ms": round(ordered[-1], 3),
    }


async def text_overhead(turns: int) -> dict[str, float]:
    agent = create_agent(name="bench", instructions="Be brief.", llm_config=None)
    session = AgentSession(agent=agent, llm=InstantLLM(), speak=False)
    first: asyncio.Future[float] | None = None

    def on_text(_: Any) -> None:
        if first is not None and not first.done():
            first.set_result(time.perf_counter())

    session.callbacks["agent_text"] = on_text
    await session.start()
    samples = []
    for _ in range(turns):
        first = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await session.process_text("hello there")
        samples.append((await first - started) * 1000)
        await session.wait_idle(5)
    await session.aclose()
    return summary(samples)


async def voice_overhead(turns: int, endpointing: float = 0.2) -> dict[str, float]:
    agent = create_agent(
        name="bench-voice",
        instructions="Be brief.",
        min_endpointing_delay=endpointing,
        stt_config={"provider": "openai"},
        tts_config={"provider": "openai"},
    )
    session = AgentSession(
        agent=agent,
        llm=InstantLLM(),
        stt=InstantSTT(),
        tts=InstantTTS(),
        vad=EnergyVAD(),
        audio_output=PacedOutput(realtime=False),
        output_sample_rate=48_000,
    )
    first: asyncio.Future[float] | None = None

    def on_audio(_: Any) -> None:
        if first is not None and not first.done():
            first.set_result(time.perf_counter())

    session.callbacks["agent_audio"] = on_audio
    await session.start()
    rate = 48_000
    speech = tone(0.6, rate)
    frame = rate // 100 * 2  # 10 ms chunks, as a LiveKit track delivers them
    silence = bytes(frame)
    silent_frames = int(endpointing * 100) + 50  # pushed until the turn ends
    samples = []
    for _ in range(turns):
        for start in range(0, len(speech), frame):
            await session.process_audio(speech[start : start + frame], sample_rate=rate)
        first = asyncio.get_running_loop().create_future()
        pushed = 0.0
        ended = session.stats.audio_segments_processed
        for _ in range(silent_frames):
            pushed = time.perf_counter()
            await session.process_audio(silence, sample_rate=rate)
            if session.stats.audio_segments_processed > ended:
                break
        else:
            raise RuntimeError("the VAD never ended the turn")
        samples.append((await first - pushed) * 1000)
        await session.wait_idle(5)
    await session.aclose()
    return summary(samples)


async def run(turns: int = 200) -> dict[str, Any]:
    return {"text": await text_overhead(turns), "voice": await voice_overhead(turns)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    results = asyncio.run(run(args.turns))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
