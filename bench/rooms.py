"""Per framework, against the same local LiveKit server and scripted OpenAI server:
cold start, memory (idle and with N concurrent text jobs) and typed-chat turn latency."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from livekit import api

from bench.common import Framework, Person, WorkerRun, enter_room, stats, wait_agents
from livekitex_cli.worker.devserver import LocalServer


def cold_start(
    framework: Framework, server: LocalServer, openai_url: str, repeats: int
) -> dict[str, Any]:
    """Process start -> registered with the server, in seconds."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(repeats):
            run = WorkerRun(framework, server, openai_url, Path(folder) / f"cold{index}.log")
            try:
                times.append(run.wait_registered())
            finally:
                run.stop()
    return stats(times)


async def jobs_and_turns(
    framework: Framework,
    server: LocalServer,
    openai_url: str,
    *,
    job_counts: list[int],
    turns: int,
) -> dict[str, Any]:
    """Memory (PSS) idle and at each job count (one participant per room), then chat turn latency."""
    result: dict[str, Any] = {"pss_mb": {}}
    with tempfile.TemporaryDirectory() as folder:
        run = WorkerRun(framework, server, openai_url, Path(folder) / "worker.log")
        client = api.LiveKitAPI(
            server.url.replace("ws://", "http://"), server.api_key, server.api_secret
        )
        people: list[Person] = []
        try:
            run.wait_registered()
            await asyncio.sleep(2)  # let idle processes settle
            result["pss_mb"]["idle"] = round(run.pss_mb(), 1)
            for count in job_counts:
                fresh = [
                    await enter_room(
                        server, client, f"{framework.name}-{len(people) + i}", "bench-echo"
                    )
                    for i in range(count - len(people))
                ]
                people += fresh
                joined = await wait_agents(people)
                await asyncio.sleep(2)
                result["pss_mb"][str(count)] = round(run.pss_mb(), 1)
                if joined < count:
                    result["pss_mb"][str(count)] = (
                        f"{result['pss_mb'][str(count)]} ({joined} of {count} jobs joined in 180 s)"
                    )
                    result["jobs_reached"] = joined
                    break
            measured = [
                (c, v) for c in job_counts if isinstance(v := result["pss_mb"].get(str(c)), float)
            ]
            if len(measured) >= 2:
                (low, low_mb), (high, high_mb) = measured[0], measured[-1]
                result["mb_per_job"] = round((high_mb - low_mb) / (high - low), 2)
            else:
                result["mb_per_job"] = None
            latencies = []
            speaker = people[0]
            await speaker.turn("warm up")
            for index in range(turns):
                latencies.append(await speaker.turn(f"turn {index}"))
            result["chat_first_text_ms"] = stats(latencies)
        finally:
            for person in people:
                await person.room.disconnect()
            await client.aclose()
            run.stop()
    return result
