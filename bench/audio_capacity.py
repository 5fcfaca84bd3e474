"""CPU cost of listening: 48 kHz audio in, resampled and run through the VAD, per session.

From the CPU seconds per second of audio we get how many listening sessions one core sustains,
then run that many at once in one process (one core: the GIL) in real time and check that none
falls behind.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.instant import InstantLLM, InstantSTT, tone
from livekitex_cli import create_agent
from livekitex_cli.providers import VAD
from livekitex_cli.session import AgentSession

RATE = 48_000
CHUNK = RATE // 100 * 2  # 10 ms, as a LiveKit track delivers audio


def make_vad(kind: str) -> VAD:
    if kind == "silero":
        from livekitex_cli.providers.local.silero import SileroVAD

        return SileroVAD()
    from livekitex_cli.providers.energy import EnergyVAD

    return EnergyVAD()


def listening_audio(seconds: float) -> bytes:
    """Alternating 1.2 s of voiced tone and 1.8 s of silence."""
    pattern = tone(1.2, RATE) + bytes(2 * int(1.8 * RATE))
    repeats = int(seconds / 3) + 1
    return (pattern * repeats)[: 2 * int(seconds * RATE)]


def session(vad: str) -> AgentSession:
    agent = create_agent(
        name="listen",
        instructions="x",
        stt_config={"provider": "openai"},
        tts_config={"provider": "openai"},
    )
    return AgentSession(
        agent=agent, llm=InstantLLM(), stt=InstantSTT(), tts=None, vad=make_vad(vad), speak=False
    )


async def cpu_per_audio_second(vad: str, seconds: float = 30.0) -> float:
    audio = listening_audio(seconds)
    listener = session(vad)
    await listener.start()
    started = time.process_time()
    for offset in range(0, len(audio), CHUNK):
        await listener.process_audio(audio[offset : offset + CHUNK], sample_rate=RATE)
    used = time.process_time() - started
    await listener.aclose()
    return used / seconds


async def real_time_check(vad: str, sessions: int, seconds: float = 10.0) -> dict[str, Any]:
    """``sessions`` listeners fed in real time; how far the slowest fell behind."""
    audio = listening_audio(seconds)
    listeners = [session(vad) for _ in range(sessions)]
    for listener in listeners:
        await listener.start()
    started = time.perf_counter()
    worst_lag = 0.0

    async def feed(listener: AgentSession) -> None:
        nonlocal worst_lag
        for index, offset in enumerate(range(0, len(audio), CHUNK)):
            due = started + index * 0.01
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                worst_lag = max(worst_lag, -delay)
            await listener.process_audio(audio[offset : offset + CHUNK], sample_rate=RATE)

    await asyncio.gather(*(feed(listener) for listener in listeners))
    wall = time.perf_counter() - started
    for listener in listeners:
        await listener.aclose()
    return {
        "sessions": sessions,
        "audio_s": seconds,
        "wall_s": round(wall, 2),
        "worst_lag_ms": round(worst_lag * 1000, 1),
        "kept_up": wall < seconds * 1.05 and worst_lag < 0.25,
    }


async def run(
    vad: str = "silero", seconds: float = 30.0, check_seconds: float = 10.0
) -> dict[str, Any]:
    """The CPU-cost estimate, then real-time runs at 80%, 65% and 50% of it: the largest count
    that keeps up (worst lag under 250 ms) is what one core sustains."""
    cost = await cpu_per_audio_second(vad, seconds)
    per_core = int(1 / cost) if cost > 0 else 0
    checks = []
    for fraction in (0.8, 0.65, 0.5):
        checks.append(await real_time_check(vad, max(1, int(per_core * fraction)), check_seconds))
        if checks[-1]["kept_up"]:
            break
    sustained = max((c["sessions"] for c in checks if c["kept_up"]), default=0)
    return {
        "vad": vad,
        "cpu_s_per_audio_s": round(cost, 5),
        "sessions_per_core_by_cpu": per_core,
        "sessions_per_core_real_time": sustained,
        "checks": checks,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run()), indent=2))
