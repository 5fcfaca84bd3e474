"""The agent's own echo through the real LiveKit server: calls in which the agent, heard on the
user's speakers, must not interrupt itself, and in which the user's words over that echo must.

    python -m bench live_echo [--calls 12] [--busy 1] [--barge-in-db 0 -6] [--no-guard]

One ``lkx start`` worker, one local LiveKit server, the scripted OpenAI-compatible server (its
"voice" is espeak-ng speech of the reply). Each call is a fresh room: the user types a question,
the agent speaks a 5.5 s reply, and the user's "speakers" put every 10 ms of the agent's voice
that arrives back into the user's microphone ``--delay`` s later at ``--gain-db`` over low noise
(a frame that reaches this process more than 50 ms late is not echoed: a speaker plays in real
time). The agent uses the energy VAD (-35 dBFS) and ``turn: {min_delay: 0.4}`` with no word
rule, so 0.3 s of speech heard interrupts it: the echo guard alone keeps it talking.

- an echo call talked to the end when the STT was never asked (the agent heard nothing);
- a barge-in call (``--barge-in-db``: the user says "Stop please." 1 s into the reply, at that
  level against the agent's voice) was heard when the agent stopped at least 1 s early and
  answered; one in which the agent stopped before the user spoke interrupted itself.

``--busy N`` keeps N busy processes beside the calls (``while 1: pass``): the echo's delay
through the server wanders most when the machine is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from livekit import api, rtc

from bench.common import (
    WorkerRun,
    agent_in,
    connect_user,
    livekit,
    lkx_framework,
    scripted_openai,
)
from bench.voices import speak
from livekitex_cli.testing import ScriptedOpenAI, Text

RATE = 48_000
FRAME = 480  # 10 ms
SETTLE = 2.0  # s after the agent's voice went quiet before the STT and LLM requests are counted
REPLY = "The weather in the mountains stays cold and clear all week, with snow by Sunday."
AGENT = """\
name: bench-echo-voice
instructions: Be brief.
llm: {{provider: openai, model: scripted}}
stt: {{provider: openai}}
tts: {{provider: openai}}
vad: {{provider: energy, threshold_db: -35}}
turn:
  min_delay: 0.4
  interruption: {{backchannels: []}}   # balanced: 0.3 s of speech interrupts; no word rule
  echo_cancellation: {guard}
"""


class Speakers:
    """The user's speakers and microphone: the agent's voice back into the microphone
    ``delay`` s later at ``gain_db`` over low noise, with the user's own words (``say``)."""

    def __init__(self, mic: rtc.AudioSource, delay: float = 0.1, gain_db: float = -10) -> None:
        self.mic = mic
        self.gain = 10 ** (gain_db / 20)
        self.line: deque[np.ndarray] = deque(np.zeros(FRAME) for _ in range(int(delay * 100)))
        self.own = np.zeros(0)
        self.voiced = 0.0  # seconds of the agent's voice heard
        self.noise = np.random.default_rng(7)
        self.clock: tuple[float, int] | None = None

    def say(self, words: np.ndarray, gain_db: float = 0.0) -> None:
        """``words`` (int16 at 48 kHz) into the microphone, at ``gain_db``, from now on."""
        self.own = words.astype(np.float64) * 10 ** (gain_db / 20)

    async def run(self, track: rtc.Track) -> None:
        async for event in rtc.AudioStream.from_track(
            track=track, sample_rate=RATE, num_channels=1
        ):
            heard = np.frombuffer(bytes(event.frame.data), np.int16).astype(np.float64)
            if heard.size != FRAME or self._late():
                continue
            self.voiced += 0.01 * (np.abs(heard).max() > 1000)
            self.line.append(heard)
            mic = self.line.popleft() * self.gain + self.noise.normal(0.0, 30.0, FRAME)
            own, self.own = self.own[:FRAME], self.own[FRAME:]
            mic[: own.size] += own
            if self.mic.queued_duration > 0.03:
                continue  # this process fell behind: drop, or the echo's delay would grow
            pcm = mic.clip(-32768, 32767).astype(np.int16).tobytes()
            await self.mic.capture_frame(rtc.AudioFrame(pcm, RATE, 1, FRAME))

    def _late(self) -> bool:
        """A frame that reached this process more than 50 ms late is not echoed."""
        now = time.monotonic()
        start, count = self.clock or (now, 0)
        self.clock = min(start, now - count * 0.01), count + 1
        late = now - (self.clock[0] + count * 0.01)
        if late > 0.5:
            self.clock = now, 1
        return 0.05 < late <= 0.5


async def until_quiet(speakers: Speakers, quiet: float = 1.5, timeout: float = 30) -> float:
    """Seconds of the agent's voice heard once it has been silent ``quiet`` s."""
    async with asyncio.timeout(timeout):
        while speakers.voiced == 0:
            await asyncio.sleep(0.05)
        last, still = speakers.voiced, 0.0
        while still < quiet:
            await asyncio.sleep(0.1)
            still = still + 0.1 if speakers.voiced == last else 0.0
            last = speakers.voiced
    return speakers.voiced


async def one_call(
    server: Any, client: api.LiveKitAPI, openai: ScriptedOpenAI, name: str, args: Any,
    user_db: float | None, stop_words: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    openai.chat_script.clear()
    openai.push(Text(REPLY))  # later answers are the server's echo, spoken as silence
    chats, heard_stt = len(openai.chat_requests), openai.stt_requests
    await client.room.create_room(api.CreateRoomRequest(name=name))
    room = rtc.Room()
    tasks: list[asyncio.Task[None]] = []
    try:
        await connect_user(server, room, name)
        await client.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="bench-echo-voice", room=name)
        )
        async with asyncio.timeout(30):
            while (agent := agent_in(room)) is None:
                await asyncio.sleep(0.05)
            source = rtc.AudioSource(RATE, 1, queue_size_ms=50)
            track = rtc.LocalAudioTrack.create_audio_track("mic", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            publication = await room.local_participant.publish_track(track, options)
            await publication.wait_for_subscription()
            while not (tracks := [p.track for p in agent.track_publications.values()
                                  if p.track]):  # fmt: skip
                await asyncio.sleep(0.05)
        speakers = Speakers(source, args.delay, args.gain_db)
        tasks.append(asyncio.ensure_future(speakers.run(tracks[0])))
        await room.local_participant.send_text("tell me about the weather", topic="lk.chat")
        early = False
        if user_db is not None:
            async with asyncio.timeout(30):
                while speakers.voiced < 1.0 and not early:
                    early = len(openai.chat_requests) - chats >= 2  # stopped before the user spoke
                    await asyncio.sleep(0.02)
            if not early:
                speakers.say(stop_words, user_db)
        heard = await until_quiet(speakers)
        # what answers speech that stopped the agent comes after that speech, the end-of-turn
        # wait and the STT: on a busy machine later than 1.5 s of quiet
        await asyncio.sleep(SETTLE)
        deadline = time.monotonic() + 8.0
        while user_db is not None and not early and time.monotonic() < deadline:
            if openai.stt_requests > heard_stt and len(openai.chat_requests) - chats >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await room.disconnect()
        await client.room.delete_room(api.DeleteRoomRequest(room=name))
    asked, answers = openai.stt_requests - heard_stt, len(openai.chat_requests) - chats
    out: dict[str, Any] = {
        "call": name,
        "voice_heard_s": round(float(heard), 2),
        "stt_asked": asked,
    }
    if user_db is None:
        out["talked_to_the_end"] = asked == 0
    else:
        out["user_db"] = user_db
        out["interrupted_itself"] = early
        out["barge_in_heard"] = bool(
            not early and asked >= 1 and answers >= 2 and heard < args.full - 1
        )
    return out


async def run(args: Any) -> dict[str, Any]:
    reply = await speak(REPLY, "espeak-150", 24_000)
    args.full = float(reply.size / 24_000)
    stop_words = await speak("Stop please.", "espeak-150", RATE)
    modes: list[float | None] = [None, *args.barge_in_db]
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy)]
    calls: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as folder, scripted_openai() as openai, livekit() as server:  # fmt: skip
            # the reply in espeak-ng's voice; any later answer silent, so that an agent answering
            # its own echo does not go on echoing itself
            openai.voice = lambda text: reply.tobytes() if "mountains" in text else bytes(4800)
            agent = Path(folder) / "echo.yaml"
            agent.write_text(AGENT.format(guard="false" if args.no_guard else "true"))
            worker = WorkerRun(
                lkx_framework(agent), server, openai.base_url, Path(folder) / "w.log"
            )
            client = api.LiveKitAPI(server.url.replace("ws://", "http://"), server.api_key,
                                    server.api_secret)  # fmt: skip
            try:
                worker.wait_registered()
                for index in range(args.calls):
                    for mode in modes:
                        tag = "echo" if mode is None else f"barge{int(mode)}"
                        call = await one_call(server, client, openai, f"live-echo-{index}-{tag}",
                                              args, mode, stop_words)  # fmt: skip
                        print(json.dumps(call), flush=True)
                        calls.append(call)
            finally:
                await client.aclose()
                worker.stop()
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return summarise(calls, args)


def summarise(calls: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    echo = [c for c in calls if "talked_to_the_end" in c]
    out: dict[str, Any] = {
        "echo_guard": not args.no_guard, "echo_delay_s": args.delay, "echo_gain_db": args.gain_db,
        "busy_processes": args.busy,
        "talked_to_the_end": f"{sum(c['talked_to_the_end'] for c in echo)}/{len(echo)}",
    }  # fmt: skip
    for db in args.barge_in_db:
        mine = [c for c in calls if c.get("user_db") == db]
        out[f"barge_ins_heard_at_{int(db)}_db"] = (
            f"{sum(c['barge_in_heard'] for c in mine)}/{len(mine)}"
        )
        out[f"interrupted_itself_before_the_user_at_{int(db)}_db"] = sum(
            c["interrupted_itself"] for c in mine
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench live_echo")
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--busy", type=int, default=1, help="busy processes beside the calls")
    parser.add_argument("--delay", type=float, default=0.1, help="the echo's delay (s)")
    parser.add_argument("--gain-db", type=float, default=-10.0, help="the echo's level")
    parser.add_argument("--barge-in-db", type=float, nargs="*", default=[],
                        help="also calls where the user says 'Stop please.' at these levels")  # fmt: skip
    parser.add_argument("--no-guard", action="store_true", help="echo_cancellation: false")
    parser.add_argument("--json", help="write the summary here too")
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args))
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
