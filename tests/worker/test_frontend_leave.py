"""The end of a call, through the real server: when the user leaves, the worker logs that the
call ended (one info line) and nothing else, not a failed task and not the LiveKit library's
complaints about handles it dropped twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import needs_server
from tests.speech import join as join_audio
from tests.speech import needs_espeak, silence_chunk, speech_chunk
from tests.worker.conftest import VOICE_AGENT
from tests.worker.test_frontend_playout import play, publish_mic

pytestmark = [needs_server, needs_espeak, pytest.mark.livekit]


def records(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


async def goodbye(user: Any, worker: Any, call: int) -> None:
    """Talk, type a few last words and leave at once, the microphone still on: the words reach
    the agent as its call ends."""
    mic, _ = await publish_mic(user)
    talking = asyncio.ensure_future(
        play(mic, join_audio(silence_chunk(0.5, 48_000), speech_chunk("Goodbye then.", 48_000)))
    )
    await asyncio.to_thread(worker.wait_for, "listening to microphone", 10, count=call + 1)
    await asyncio.gather(*(user.say(f"bye {n}") for n in range(5)))
    await user.room.disconnect()
    talking.cancel()


async def test_users_who_say_goodbye_and_leave_end_their_calls_quietly(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    agent_file = tmp_path / "voice.yaml"
    agent_file.write_text(VOICE_AGENT)
    worker = start_worker(str(agent_file))
    calls = 3  # one after another in the same worker: each job's leftovers meet the next's GC
    for call in range(calls):
        user = await join(f"leave-room-{call}", "voice-test")
        await user.wait_agent()
        await goodbye(user, worker, call)
        await asyncio.to_thread(worker.wait_for, '"msg": "job ended"', 20, count=call + 1)
    await asyncio.sleep(1.0)  # the library forwards its native log lines about twice a second

    logged = records(worker.output())
    start = next(i for i, r in enumerate(logged) if r["msg"] == "job started")
    calls_log = logged[start:]
    assert [r for r in calls_log if r["level"] not in ("info", "debug")] == []
    ends = [r["msg"] for r in calls_log if r["msg"] in ("job ended", "job started")]
    assert ends == ["job started", "job ended"] * calls
    left = [r for r in calls_log if r["msg"].startswith("linked participant left")]
    assert len(left) == calls  # one line says why each call ended
