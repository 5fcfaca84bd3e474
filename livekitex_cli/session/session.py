"""``AgentSession``: one conversation. Text and audio in, a streamed, spoken, tool-using reply
out; the session owns what the conversation keeps (history, state, events, metrics, audio out)
and its inputs, and an ``AgentActivity`` (``activity.py``) does one agent's part: providers,
tools, instructions, hearing and answering. ``set_agent`` swaps the activity (a handoff) and
keeps the conversation.

Inputs queue up and are answered one at a time by a single named task. Audio goes through the
VAD as it arrives; ``turn_taking.py`` decides when a turn ends and what interrupts the agent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from livekitex_cli.agent import Agent
from livekitex_cli.errors import LkxError, ValidationError
from livekitex_cli.log import get_logger
from livekitex_cli.providers import LLM, STT, TTS, VAD
from livekitex_cli.session.activity import AgentActivity
from livekitex_cli.session.audio_input import SpeechEnded, SpeechStarted, check_format
from livekitex_cli.session.bus import EventBus, EventCallback
from livekitex_cli.session.chat import ChatHistory
from livekitex_cli.session.events import (
    AgentState,
    InputSource,
    SessionEvent,
    StateChanged,
)
from livekitex_cli.session.handoff import Handoffs
from livekitex_cli.session.metrics import SessionMetrics
from livekitex_cli.session.playout import PausableOutput
from livekitex_cli.session.reply import Reply, error_event
from livekitex_cli.session.run_result import RunResult, run_turn
from livekitex_cli.session.speech import AudioOutput, PacedOutput
from livekitex_cli.session.turn_taking import TurnTaking
from livekitex_cli.tasks import TaskSet

log = get_logger("session")
MAX_TEXT = 20_000


@dataclass(frozen=True)
class SessionInput:
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
        self.session_id = f"session_{uuid.uuid4().hex[:12]}"
        self.room_id = room_id
        self.user_data: dict[str, Any] = dict(user_data or {})
        self._tasks = TaskSet(f"lkx-{self.session_id}", log)
        self.bus = EventBus(event_callbacks, self._tasks.spawn)
        self.callbacks = self.bus.callbacks  # event type (or "*") -> callable, may be changed
        self.output_sample_rate = output_sample_rate
        self.audio_output = PausableOutput(audio_output or PacedOutput())
        self.history = ChatHistory(max_turns=agent.spec.max_history_turns)
        self.stats = SessionMetrics(keep_turns=agent.spec.metrics_window_turns)
        self.state: AgentState = "initializing"
        self._speak = speak
        self.handoffs = Handoffs(self)  # transfers between agents (``handoffs:``)
        self.activity = AgentActivity(self, agent, llm=llm, stt=stt, tts=tts, vad=vad, speak=speak)
        self._inputs: asyncio.Queue[SessionInput] = asyncio.Queue()
        self._reply_task: asyncio.Task[None] | None = None
        self.current_reply: Reply | None = None  # set by the activity, cleared per input
        self._idle = asyncio.Event()
        self._idle.set()
        self.turns = TurnTaking(self)  # interruption rules and the turn timeline
        self._closed = self._started = False

    # the active agent and its providers (the activity's) ------------------------------------

    @property
    def agent(self) -> Agent:
        return self.activity.agent

    @property
    def llm(self) -> LLM:
        return self.activity.llm

    @property
    def stt(self) -> STT | None:
        return self.activity.stt

    @property
    def tts(self) -> TTS | None:
        return self.activity.tts

    @property
    def vad(self) -> VAD | None:
        return self.activity.vad

    async def set_agent(self, agent: Agent, **providers: Any) -> None:
        """Hand the conversation to ``agent`` (a handoff): the reply stops, the rest goes on."""
        self.interrupt()
        old = self.activity
        self.activity = AgentActivity(self, agent, speak=self._speak, **providers)
        await old.aclose()
        await self.activity.begin()

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
        await self.activity.begin()  # mcp_servers: tools, before the first reply
        self._tasks.spawn(self._input_loop(), "inputs")
        self.set_state("listening")
        if self.agent.spec.greeting:
            self._idle.clear()
            self._inputs.put_nowait(
                SessionInput("greeting", self.agent.spec.greeting, None, time.perf_counter())
            )

    async def aclose(self) -> None:
        """Stop every task, close providers and event streams. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._tasks.aclose()
        await self.activity.aclose()
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
        self._inputs.put_nowait(SessionInput("text", text.strip(), None, time.perf_counter()))

    async def process_audio(
        self, pcm16: bytes, *, sample_rate: int = 48_000, channels: int = 1
    ) -> None:
        """Feed 16-bit PCM of any length; turns are detected and answered as they end."""
        self._check_open()
        check_format(sample_rate, channels)
        if not isinstance(pcm16, bytes | bytearray | memoryview):
            raise ValidationError("pcm16", f"must be bytes, not {type(pcm16).__name__}")
        if not self.activity.hears:
            raise ValidationError("audio", f"agent '{self.agent.name}' is text-only (no stt)")
        async for event in self.activity.hear(bytes(pcm16), sample_rate, channels):
            self._on_turn_event(event)
        self.turns.heard()

    async def end_audio(self) -> None:
        """The audio stream ended: answer a turn still in progress."""
        for event in self.activity.flush_audio():
            self._on_turn_event(event)

    async def say(self, text: str) -> None:
        """Make the agent say ``text`` (queued after the current reply)."""
        self._check_open()
        self._idle.clear()
        self._inputs.put_nowait(SessionInput("greeting", text, None, time.perf_counter()))

    async def run(self, *, user_input: str | None = None, timeout: float = 60.0) -> RunResult:
        """One turn, recorded, to assert on (``result.expect``; see ``run_result``)."""
        return await run_turn(self, user_input=user_input, timeout=timeout)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every queued input is answered, and a pause being judged is decided."""
        decided = self.turns.endpointing.decided
        async with asyncio.timeout(timeout):
            while not (self._idle.is_set() and decided.is_set()):
                await self._idle.wait()
                await decided.wait()

    def interrupt(self) -> bool:
        """Stop the agent's current reply now. Whether there was one."""
        task = self._reply_task
        if task is None or task.done():
            return False
        if self.current_reply is not None:
            self.current_reply.stop()
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

    def _on_turn_event(self, event: SpeechStarted | SpeechEnded) -> None:
        if isinstance(event, SpeechStarted):
            self.turns.speech_started(event)
        elif not self.turns.speech_ended(event):
            self.answer_utterance(event)

    def answer_utterance(self, event: SpeechEnded, text: str = "") -> None:
        """Queue a spoken turn (``text``: its transcript, when already known)."""
        self.stats.audio_segments_processed += 1
        self._idle.clear()
        self._inputs.put_nowait(SessionInput("audio", text, event, time.perf_counter()))

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as one of the session's tracked tasks (cancelled on close)."""
        return self._tasks.spawn(coro, name)

    async def _input_loop(self) -> None:
        while True:
            item: SessionInput | None = await self._inputs.get()
            if item is not None and item.source != "greeting":
                self.handoffs.new_turn()
            while item is not None:
                await self._answer(item)
                item = await self.handoffs.complete()  # a transfer made during the reply
            if self._inputs.empty():
                self.set_state("listening")
                self._idle.set()

    async def _answer(self, item: SessionInput) -> None:
        self._reply_task = self._tasks.spawn(self.activity.answer(item), "reply")
        try:
            await asyncio.shield(self._reply_task)
        except asyncio.CancelledError:
            # an interrupted reply ends here; a cancelled input loop (aclose, or the
            # loop shutting down without one) ends too
            this = asyncio.current_task()
            if self._closed or (this is not None and this.cancelling()):
                raise
        finally:
            self.current_reply = None
            self._reply_task = None


async def start_session(agent: Agent, **options: Any) -> AgentSession:
    """The contract's ``start_session``: create a session and start it."""
    session = AgentSession(agent=agent, **options)
    await session.start()
    return session
