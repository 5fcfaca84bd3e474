"""The livekit-agents side of ``python -m bench turn_lka``: livekit-agents' own turn handling
on lkx's turn-taking corpus.

Each case (``NAME.wav``, 16 kHz mono int16, and ``NAME.json``, its label) is played in real
time into a real ``AgentSession`` (no room: ``session.input.audio`` is a WAV reader) with the
Silero VAD, an STT that answers the label's text at once (livekit-agents wraps it in its
``StreamAdapter`` with the VAD, as for any non-streaming STT) and an LLM that answers at once;
no TTS. Every user turn the session commits (``Agent.on_user_turn_completed``) is timed.

Runs in livekit-agents' own virtual environment:
    python bench/lka/turns.py {default,vad} DIR [--concurrency N]
``default``: what ``AgentSession(vad=..., stt=..., llm=...)`` does on its own; ``vad``: the same
with ``turn_handling={"turn_detection": "vad"}``. Prints one JSON object per case.
"""

import argparse
import asyncio
import json
import logging
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    Agent,
    AgentSession,
    APIConnectOptions,
    NotGivenOr,
    llm,
    stt,
    utils,
    vad,
)
from livekit.agents.voice import io
from livekit.plugins import silero

RATE = 16_000
FRAME = 160  # 10 ms, as a room delivers it
TAIL = 1.0  # seconds to wait after the last frame for a late commit


class WavInput(io.AudioInput):
    """The samples of one WAV, one 10 ms frame every 10 ms of wall-clock time."""

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__(label="wav")
        self.samples = samples
        self.position = 0
        self.started: float | None = None  # time.time() of the first sample
        self.late = 0.0  # the most a frame came after its time, seconds
        self.done = asyncio.Event()

    async def __anext__(self) -> rtc.AudioFrame:
        if self.position + FRAME > self.samples.size:
            self.done.set()
            raise StopAsyncIteration
        if self.started is None:
            self.started = time.time()
        self.position += FRAME
        due = self.started + self.position / RATE
        await asyncio.sleep(max(0.0, due - time.time()))
        self.late = max(self.late, time.time() - due)
        chunk = self.samples[self.position - FRAME : self.position]
        return rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME)


class FixedSTT(stt.STT):
    """Non-streaming: every segment it is given is ``text``, at once."""

    def __init__(self, text: str) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.text = text

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        data = stt.SpeechData(language="en", text=self.text, confidence=1.0)
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=[data])


class InstantLLM(llm.LLM):
    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        return _Answer(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Answer(llm.LLMStream):
    async def _run(self) -> None:
        delta = llm.ChoiceDelta(role="assistant", content="Okay.")
        self._event_ch.send_nowait(llm.ChatChunk(id="answer", delta=delta))


class Listener(Agent):
    """Notes the wall-clock time and livekit-agents' own delay of every committed user turn."""

    def __init__(self) -> None:
        super().__init__(instructions="Answer.")
        self.turns: list[dict[str, Any]] = []

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        metrics = new_message.metrics or {}
        self.turns.append({"at": time.time(), "lka_delay": metrics.get("end_of_turn_delay")})


async def play(config: str, wav: Path, shared_vad: vad.VAD) -> dict[str, Any]:
    label = json.loads(wav.with_suffix(".json").read_text())
    with wave.open(str(wav)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    handling: Any = {"turn_detection": "vad"} if config == "vad" else NOT_GIVEN
    session: AgentSession[None] = AgentSession(
        vad=shared_vad, stt=FixedSTT(label["text"]), llm=InstantLLM(), turn_handling=handling
    )
    audio = WavInput(samples)
    session.input.audio = audio
    agent = Listener()
    await session.start(agent=agent, record=False)
    await audio.done.wait()
    await asyncio.sleep(TAIL)
    await session.aclose()
    assert audio.started is not None
    return {
        "case": wav.stem,
        **label,
        "turn_detection": type(session.turn_detection).__name__
        if not isinstance(session.turn_detection, str)
        else session.turn_detection,
        "late_ms_max": audio.late * 1000,
        "turns": [
            {"after_start_s": t["at"] - audio.started, "lka_end_of_turn_delay_s": t["lka_delay"]}
            for t in agent.turns
        ],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", choices=["default", "vad"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--concurrency", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    shared_vad = silero.VAD.load()
    limit = asyncio.Semaphore(args.concurrency)

    async def one(wav: Path) -> None:
        async with limit:
            print(json.dumps(await play(args.config, wav, shared_vad)), flush=True)

    await asyncio.gather(*(one(wav) for wav in sorted(args.folder.glob("*.wav"))))


if __name__ == "__main__":
    asyncio.run(main())
