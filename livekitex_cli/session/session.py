"""``AgentSession``: text and audio in, a streamed, spoken, tool-using reply out.

Inputs queue up and are answered one at a time by a single named task. Audio goes through the
VAD as it arrives; when a turn ends, its utterance is transcribed and answered. If the user
starts speaking while the agent talks (and interruptions are allowed), the reply is cancelled.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from livekitex_cli.agent import Agent
from livekitex_cli.errors import LkxError, ValidationError
from livekitex_cli.log import get_logger
from livekitex_cli.providers import LLM, STT, TTS, VAD
from livekitex_cli.session.audio_input import (
    Resampler,
    SpeechEnded,
    SpeechStarted,
    TurnDetector,
    check_format,
    to_mono,
)
from livekitex_cli.session.build import build_providers
from livekitex_cli.session.bus import EventBus, EventCallback
from livekitex_cli.session.chat import ChatHistory
from livekitex_cli.session.events import (
    AgentState,
    InputSource,
    SessionEvent,
    StateChanged,
    UserSpeechStarted,
)
from livekitex_cli.session.metrics import SessionMetrics, TurnMetrics
from livekitex_cli.session.reply import Reply, error_event
from livekitex_cli.session.run_result import RunResult, run_turn
from livekitex_cli.session.speech import AudioOutput, PacedOutput

log = get_logger("session")
MAX_TEXT = 20_000


@dataclass(frozen=True)
class _Input:
    source: InputSource
    text: str = ""
    audio: SpeechEnded | None = None
    received: float = 0.0


class AgentSession:
    """One conversation with one agent. ``start()`` it, feed it, ``aclose()`` it."""

    def __init__(
        self,
        *,
        agent: Agent,
        room_id: str | None = None,
        event_callbacks: Mapping[str, EventCallback] | None = None,
        user_data: dict[str, Any] | None = None,
        llm: LLM | None = None,
        stt: STT | None = None,
        tts: TTS | None = None,
        vad: VAD | None = None,
        audio_output: AudioOutput | None = None,
        output_sample_rate: int = 24_000,
        speak: bool = True,
    ) -> None:
        self.agent = agent
        self.session_id = f"session_{uuid.uuid4().hex[:12]}"
        self.room_id = room_id
        self.user_data: dict[str, Any] = dict(user_data or {})
        self.bus = EventBus(event_callbacks, self._spawn)
        self.callbacks = self.bus.callbacks  # event type (or "*") -> callable, may be changed
        self.output_sample_rate = output_sample_rate
        self.audio_output: AudioOutput = audio_output or PacedOutput()
        self.history = ChatHistory(max_turns=agent.spec.max_history_turns)
        self.stats = SessionMetrics(keep_turns=agent.spec.metrics_window_turns)
        self.state: AgentState = "initializing"
        providers = build_providers(agent, llm=llm, stt=stt, tts=tts, vad=vad, speak=speak)
        if providers.vad is None and providers.stt is not None:
            # hearing needs no voice: an agent with STT and no TTS still listens (with the VAD
            # its YAML names, or the default one), and answers in text
            providers = build_providers(
                agent, llm=providers.llm, stt=providers.stt, tts=providers.tts, speak=speak
            )
        self.llm, self.stt, self.tts, self.vad = (
            providers.llm, providers.stt, providers.tts, providers.vad,
        )  # fmt: skip
        self._detector = (
            TurnDetector(self.vad, endpointing_delay=agent.spec.min_endpointing_delay)
            if self.vad is not None
            else None
        )
        self._resampler = Resampler(self.vad.sample_rate if self.vad else 16_000)
        self._carry = bytearray()
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reply_task: asyncio.Task[None] | None = None
        self._current: Reply | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._started = False

    @property
    def closed(self) -> bool:
        """True from the moment ``aclose`` begins: inputs are refused from then on."""
        return self._closed

    def __repr__(self) -> str:
        return f"<AgentSession {self.session_id} agent={self.agent.name!r} state={self.state}>"

    # lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin listening; say the greeting if the agent has one."""
        if self._started:
            return
        self._started = True
        self._spawn(self._input_loop(), "inputs")
        self.set_state("listening")
        if self.agent.spec.greeting:
            self._idle.clear()
            self._inputs.put_nowait(
                _Input("greeting", self.agent.spec.greeting, None, time.perf_counter())
            )

    async def aclose(self) -> None:
        """Stop every task, close providers and event streams. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for provider in (self.llm, self.stt, self.tts, self.vad):
            if provider is not None:
                try:
                    await provider.aclose()
                except Exception:  # noqa: BLE001 - closing must not fail
                    log.exception("provider close failed")
        self.set_state("closed")
        self.bus.close()
        self._idle.set()

    async def __aenter__(self) -> AgentSession:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # input ---------------------------------------------------------------------------------

    async def process_text(self, text: str) -> None:
        """Queue typed user text; the reply arrives through events."""
        self._check_open()
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("text", "must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise ValidationError("text", f"is {len(text)} characters long, at most {MAX_TEXT}")
        self._idle.clear()
        self._inputs.put_nowait(_Input("text", text.strip(), None, time.perf_counter()))

    async def process_audio(
        self, pcm16: bytes, *, sample_rate: int = 48_000, channels: int = 1
    ) -> None:
        """Feed 16-bit PCM of any length; turns are detected and answered as they end."""
        self._check_open()
        check_format(sample_rate, channels)
        if not isinstance(pcm16, bytes | bytearray | memoryview):
            raise ValidationError("pcm16", f"must be bytes, not {type(pcm16).__name__}")
        if self._detector is None:
            raise ValidationError("audio", f"agent '{self.agent.name}' is text-only (no stt)")
        mono = to_mono(bytes(pcm16), channels, self._carry)
        if mono.size == 0:
            return
        step = sample_rate * 2  # two seconds at a time keeps the loop responsive on big chunks
        for start in range(0, mono.size, step):
            samples = self._resampler.push(mono[start : start + step], sample_rate)
            for event in self._detector.push(samples):
                self._on_turn_event(event)
            if mono.size > step:
                await asyncio.sleep(0)

    async def end_audio(self) -> None:
        """The audio stream ended: answer a turn still in progress."""
        if self._detector is not None:
            for event in self._detector.flush():
                self._on_turn_event(event)

    async def say(self, text: str) -> None:
        """Make the agent say ``text`` (queued after the current reply)."""
        self._check_open()
        self._idle.clear()
        self._inputs.put_nowait(_Input("greeting", text, None, time.perf_counter()))

    async def run(self, *, user_input: str | None = None, timeout: float = 60.0) -> RunResult:
        """One turn, recorded, to assert on (``result.expect``; see ``run_result``)."""
        return await run_turn(self, user_input=user_input, timeout=timeout)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every queued input is answered."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    def interrupt(self) -> bool:
        """Stop the agent's current reply now. Whether there was one."""
        task = self._reply_task
        if task is None or task.done():
            return False
        if self._current is not None:
            self._current.stop()
        self.audio_output.clear()
        task.cancel()
        self.stats.interruptions += 1
        return True

    # state and events ----------------------------------------------------------------------

    def conversation_state(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "agent": self.agent.name,
            "room_id": self.room_id,
            "state": self.state,
            "instructions": self.agent.instructions,
            "tools": [t.name for t in self.agent.tools],
            "turns": [turn.to_dict() for turn in self.history.turns],
        }

    def metrics(self) -> dict[str, Any]:
        return self.stats.snapshot()

    def events(self) -> AsyncIterator[SessionEvent]:
        """Every event from this call on, until the session closes (events emitted before the
        first ``async for`` step are kept)."""
        return self.bus.subscribe()

    def on(self, event_type: str, callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Add a listener for ``event_type`` (``"*"``: every event) beside any others;
        returns a function that removes it."""
        return self.bus.on(event_type, callback)

    def emit(self, event: SessionEvent) -> None:
        self.bus.emit(event)

    def set_state(self, state: AgentState) -> None:
        if state != self.state and (not self._closed or state == "closed"):
            old, self.state = self.state, state
            self.emit(StateChanged(old, state))

    def report_error(self, exc: LkxError) -> None:
        self.stats.count_error(getattr(exc, "service", "") or type(exc).__name__)
        log.warning("provider failed", extra={"error": str(exc)})
        self.emit(error_event(exc))

    # internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationError("session", "is closed")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"lkx-{self.session_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session task failed", exc_info=task.exception())

    def _on_turn_event(self, event: SpeechStarted | SpeechEnded) -> None:
        if isinstance(event, SpeechStarted):
            self.emit(UserSpeechStarted())
            if self.agent.spec.allow_interruptions and self._current is not None:
                if self._current.source != "greeting" or self.state == "speaking":
                    self.interrupt()
            return
        self.stats.audio_segments_processed += 1
        self._idle.clear()
        self._inputs.put_nowait(_Input("audio", "", event, time.perf_counter()))

    async def _input_loop(self) -> None:
        from livekitex_cli.session.turn import answer

        while True:
            item = await self._inputs.get()
            self._reply_task = self._spawn(answer(self, item), "reply")
            try:
                await asyncio.shield(self._reply_task)
            except asyncio.CancelledError:
                # an interrupted reply ends here; a cancelled input loop (aclose, or the
                # loop shutting down without one) ends too
                this = asyncio.current_task()
                if self._closed or (this is not None and this.cancelling()):
                    raise
            finally:
                self._current = None
                self._reply_task = None
                if self._inputs.empty():
                    self.set_state("listening")
                    self._idle.set()

    def new_reply(self, item: _Input) -> Reply:
        turn = TurnMetrics(turn_id=f"turn_{uuid.uuid4().hex[:10]}", source=item.source)
        reply = Reply(self, turn, item.source)
        reply.started = item.received
        self._current = reply
        return reply

    def drop_reply(self) -> None:
        """Forget the current reply without recording a turn (nothing was said)."""
        self._current = None


async def start_session(agent: Agent, **options: Any) -> AgentSession:
    """The contract's ``start_session``: create a session and start it."""
    session = AgentSession(agent=agent, **options)
    await session.start()
    return session
