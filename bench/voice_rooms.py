"""Voice rooms through the real LiveKit server: how much of a core one ``lkx start`` worker
spends per active voice room, and how fast it answers as rooms are added.

    python -m bench voice_rooms [--rooms 1 5 10] [--questions 3] [--no-guard] [--json FILE]

Per step: a fresh ``lkx start`` with a voice agent (Silero VAD of the local extra; LLM, STT and
TTS on the scripted OpenAI-compatible server: instant answers, a tone for a voice) and
``--rooms`` rooms, one participant each. Every participant publishes a microphone fed in real
time for the whole run (low noise, as a real microphone sends, and an espeak-ng question
``--questions`` times, 3 to 5 s apart, rooms staggered) and listens to the agent's track.

- end of speech -> first agent audio: from when the question's last sample has played out of
  the participant's microphone to the first loud frame of the agent's voice that arrives
  (includes the 0.5 s end-of-speech wait, and the way to the agent and back);
- worker CPU: user + system seconds of the worker's whole process tree over the talking part
  of the run, per second of it, as a share of one core; per room is that over the rooms;
- participants' CPU: the same for this process (it decodes and encodes every room's audio);
- lost: questions with no agent audio within 10 s.

Participants, server and worker share the machine's cores: read the figures with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from livekit import api, rtc

from bench.common import (
    LKA_VENV,
    ROOT,
    Framework,
    WorkerRun,
    agent_in,
    connect_user,
    livekit,
    lkx_framework,
    report,
    scripted_openai,
    stats,
    tree_cpu_seconds,
)
from bench.voices import speak

RATE = 48_000
FRAME = 480  # 10 ms
LOUD = 1000  # the scripted TTS tone peaks near 8000; codec noise stays far below
QUESTION = "What is the weather like in Paris today?"
AGENT = """\
name: bench-voice
instructions: Echo.
llm: {provider: openai, model: scripted}
stt: {provider: openai}
tts: {provider: openai}
vad: {provider: local}
min_endpointing_delay: 0.5
worker: {max_concurrent_jobs: 200, load_threshold: 1.0}
"""


def room_noise(samples: int) -> np.ndarray:
    """What a microphone sends between words: low noise (-60 dBFS RMS), not digital silence."""
    noise = np.random.default_rng().normal(0.0, 32768 * 10 ** (-60 / 20), samples)
    return noise.astype(np.int16)


class Caller:
    """One room's participant: a microphone fed in real time, the agent's voice timed."""

    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self.source = rtc.AudioSource(RATE, 1, queue_size_ms=50)
        self.spoken_end = 0.0  # when the current question's last sample played out
        self.heard: asyncio.Queue[float] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self.finished: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self.subscribed = False  # whether an agent took the microphone
        room.on("track_subscribed", self._on_track)

    def agent_here(self) -> bool:
        return agent_in(self.room) is not None

    async def publish(self) -> None:
        track = rtc.LocalAudioTrack.create_audio_track("mic", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await self.room.local_participant.publish_track(track, options)
        try:  # an agent that never listens loses every question of its room (the table says)
            await asyncio.wait_for(publication.wait_for_subscription(), 120)
            self.subscribed = True
        except TimeoutError:
            pass

    def _on_track(self, track: rtc.Track, publication: Any, participant: Any) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self.tasks.append(asyncio.ensure_future(self._listen(track)))

    async def _listen(self, track: rtc.Track) -> None:
        loud = False
        stream = rtc.AudioStream.from_track(track=track, sample_rate=RATE, num_channels=1)
        async for event in stream:
            peak = int(np.abs(np.frombuffer(bytes(event.frame.data), np.int16)).max())
            if peak > LOUD and not loud:
                self.heard.put_nowait(time.perf_counter())
            loud = peak > LOUD if peak > LOUD else (loud and peak > LOUD // 4)

    async def feed(self, audio: np.ndarray) -> None:
        """``audio`` into the microphone in 10 ms frames, in real time."""
        for start in range(0, audio.size - FRAME + 1, FRAME):
            piece = audio[start : start + FRAME].tobytes()
            await self.source.capture_frame(rtc.AudioFrame(piece, RATE, 1, FRAME))

    async def answer(self, deadline: float, quiet: np.ndarray) -> float:
        """Milliseconds from the question's end to the agent's voice (NaN: none by
        ``deadline``), the microphone fed ``quiet`` meanwhile. A voice that began before the
        question ended is a late answer to the question before (at 10 rooms one counted
        -5.6 s)."""
        while time.perf_counter() < deadline:
            while not self.heard.empty():
                at = self.heard.get_nowait()
                if at > self.spoken_end:
                    return (at - self.spoken_end) * 1000
            await self.feed(quiet)
        return float("nan")

    async def talk(self, question: np.ndarray, questions: int, stop: asyncio.Event) -> None:
        """Silence, then each question followed by silence until answered; ``finished`` gets
        the latencies (ms, NaN for a question not answered within 10 s), and the microphone
        goes on until ``stop``."""
        latencies: list[float] = []
        quiet = room_noise(FRAME * 10)
        await self.feed(room_noise(int(RATE * random.uniform(0.5, 3.0))))
        for _ in range(questions):
            while not self.heard.empty():
                self.heard.get_nowait()
            await self.feed(question)
            self.spoken_end = time.perf_counter() + self.source.queued_duration
            deadline = self.spoken_end + 10
            latencies.append(await self.answer(deadline, quiet))
            gap = time.perf_counter() + random.uniform(3.0, 5.0)
            while time.perf_counter() < gap:
                await self.feed(quiet)
        self.finished.set_result(latencies)
        while not stop.is_set():  # keep the microphone going until every room is done
            await self.feed(quiet)


async def enter(server: Any, client: api.LiveKitAPI, name: str) -> Caller:
    await client.room.create_room(api.CreateRoomRequest(name=name))
    caller = Caller(rtc.Room())
    await connect_user(server, caller.room, name)
    await client.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name="bench-voice", room=name)
    )
    return caller


def lka_voice(rooms: int) -> Framework:
    """livekit-agents runs each job in a process of its own: one is started ahead per room, as
    its documentation advises for a known load (started on demand, they come one by one)."""
    return Framework(
        "livekit-agents",
        [str(LKA_VENV / "bin/python"), str(ROOT / "bench/lka/voice_agent.py"), "start"],
        "registered worker",
        {"LKA_AGENT_NAME": "bench-voice", "LKA_IDLE_PROCESSES": str(rooms)},
    )


async def step(
    rooms: int, questions: int, question: np.ndarray, folder: Path, guard: bool, lka: bool
) -> dict[str, Any]:
    agent_file = folder / "voice.yaml"
    off = "turn: {detection: vad, echo_cancellation: false, noise_suppression: false}\n"
    agent_file.write_text(AGENT + ("" if guard else off))
    framework = lka_voice(rooms) if lka else lkx_framework(agent_file)
    with livekit() as server, scripted_openai() as openai:
        openai.seconds_per_char = 0.03
        run = WorkerRun(framework, server, openai.base_url, folder / f"w{rooms}.log")
        client = api.LiveKitAPI(server.url.replace("ws://", "http://"), server.api_key,
                                server.api_secret)  # fmt: skip
        callers: list[Caller] = []
        try:
            run.wait_registered()
            callers = [await enter(server, client, f"voice-{rooms}-{i}") for i in range(rooms)]
            deadline = time.monotonic() + 120
            while not all(c.agent_here() for c in callers) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.gather(*(c.publish() for c in callers))
            stop = asyncio.Event()
            worker_cpu, own_cpu = tree_cpu_seconds(run.process.pid), time.process_time()
            began = time.perf_counter()
            talks = [asyncio.ensure_future(c.talk(question, questions, stop)) for c in callers]
            results = [await c.finished for c in callers]  # microphones still going
            elapsed = time.perf_counter() - began
            worker = (tree_cpu_seconds(run.process.pid) - worker_cpu) / elapsed
            own = (time.process_time() - own_cpu) / elapsed
            stop.set()
            await asyncio.gather(*talks)
        finally:
            for caller in callers:
                for task in caller.tasks:
                    task.cancel()
                await caller.room.disconnect()
            await client.aclose()
            run.stop()
    latencies = [x for r in results for x in r if x == x]
    lost = sum(1 for r in results for x in r if x != x)
    out = {
        "framework": framework.name,
        "rooms": rooms,
        "echo_guard": guard and not lka,
        "end_of_speech_to_first_audio_ms": stats(latencies) if latencies else None,
        "lost": f"{lost}/{rooms * questions}",
        "rooms_listened_to": f"{sum(c.subscribed for c in callers)}/{rooms}",
        "worker_cpu_percent_of_a_core": round(worker * 100, 1),
        "worker_cpu_percent_per_room": round(worker * 100 / rooms, 2),
        "participants_cpu_percent": round(own * 100, 1),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(out), flush=True)
    if os.environ.get("LKX_BENCH_DIR"):  # keep the worker's log there
        (Path(os.environ["LKX_BENCH_DIR"]) / run.log.name).write_bytes(run.log.read_bytes())
    return out


async def run(rooms: list[int], questions: int, guard: bool, lka: bool) -> dict[str, Any]:
    question = await speak(QUESTION, "espeak-150", RATE)
    level = np.abs(question.astype(np.int32))
    last = int(np.nonzero(level > 0.05 * level.max())[0][-1])
    question = question[: last + 1]  # its end is the end of speech: no trailing silence
    with tempfile.TemporaryDirectory(dir=os.environ.get("LKX_BENCH_DIR")) as folder:
        steps = [await step(n, questions, question, Path(folder), guard, lka) for n in rooms]
    return {"steps": steps, "cpus": os.cpu_count(), "root": str(ROOT)}


def main(argv: list[str] | None = None) -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rooms", type=int, nargs="+", default=[1, 5, 10])
        parser.add_argument("--questions", type=int, default=3)
        parser.add_argument(
            "--no-guard", action="store_true", help="the agent without its echo guard (turn:)"
        )
        parser.add_argument(
            "--framework", choices=["lkx", "lka"], default="lkx",
            help="lka: livekit-agents (bench/lka/voice_agent.py, installed in its own venv)",
        )  # fmt: skip

    async def start(args: argparse.Namespace) -> dict[str, Any]:
        lka = args.framework == "lka"
        if lka:
            from bench.run import ensure_lka

            problem = ensure_lka()
            if problem:
                raise SystemExit(f"error: {problem}")
        return await run(args.rooms, args.questions, not args.no_guard, lka)

    report("voice_rooms", argv, start, options)
