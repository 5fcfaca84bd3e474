"""``AgentActivity``: one agent's pipeline inside a session. Its providers, tools and
instructions, how it hears (VAD turn detection), and how it answers one input: transcribe it if
spoken, generate with tools, speak. The session (the conversation: history, state, events,
I/O) outlives it; a handoff replaces the activity and keeps the session.

It talks to its session only through the session's public side: ``emit``, ``set_state``,
``report_error``, ``history``, ``stats``, ``audio_output``, ``current_reply``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from livekitex_cli.agent import Agent
from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.providers import LLM, STT, TTS, VAD, ProviderTiming
from livekitex_cli.session.audio_input import (
    Resampler,
    SpeechEnded,
    SpeechStarted,
    TurnDetector,
    to_mono,
)
from livekitex_cli.session.build import build_providers
from livekitex_cli.session.events import SessionError, UserTranscript
from livekitex_cli.session.metrics import TurnMetrics
from livekitex_cli.session.reply import Reply
from livekitex_cli.session.watchdog import Watchdog, speak_out
from livekitex_cli.tools import FunctionTool

if TYPE_CHECKING:
    from livekitex_cli.session.session import AgentSession, SessionInput

log = get_logger("session")
# the reply being produced in this task (and the tasks it starts), for provider timings
_REPLY: ContextVar[Reply | None] = ContextVar("lkx_reply", default=None)


class AgentActivity:
    def __init__(
        self,
        session: AgentSession,
        agent: Agent,
        *,
        llm: LLM | None = None,
        stt: STT | None = None,
        tts: TTS | None = None,
        vad: VAD | None = None,
        speak: bool = True,
    ) -> None:
        self.session = session
        self.agent = agent
        providers = build_providers(agent, llm=llm, stt=stt, tts=tts, vad=vad, speak=speak)
        self.llm, self.stt, self.tts, self.vad = (
            providers.llm, providers.stt, providers.tts, providers.vad,
        )  # fmt: skip
        self.turn = agent.spec.turn_settings.detected_by(text_possible=_text_turns(self.stt))
        self.detector = (
            TurnDetector(self.vad, endpointing_delay=self.turn.endpointing_delay)
            if self.vad is not None
            else None
        )
        self._resampler = Resampler(self.vad.sample_rate if self.vad else 16_000)
        self._carry = bytearray()
        self._stt_loading = False  # whether the first audio has started the STT's loading
        self._stt_loaded: asyncio.Task[None] | None = None  # that loading, if the STT has one
        self._prepared: asyncio.Task[None] | None = None  # the LLM's reading, see begin()
        self.extra_tools = session.handoffs.tools_for(agent)  # transfer_to_<name> tools
        self.mcp_tools: list[FunctionTool] = []  # from mcp_servers:, see connect_mcp
        self._unobserve = [
            provider.observe(self._timing)
            for provider in (self.llm, self.stt, self.tts)
            if provider is not None
        ]

    def __repr__(self) -> str:
        return f"<AgentActivity {self.agent.name!r}>"

    @property
    def tools(self) -> list[FunctionTool]:
        """What the LLM is offered: the agent's tools, its transfer tools, its MCP tools."""
        return [*self.agent.tools, *self.extra_tools, *self.mcp_tools]

    async def begin(self) -> None:
        """Ready the agent for its first turn: its MCP servers' tools, then, in the background
        (while a greeting plays), the LLM's reading of the instructions and the tools."""
        await self.connect_mcp()
        if self.llm is not None:
            self._prepared = self.session.spawn(self._prepare(self.llm), "llm-prepare")

    async def warm_up(self) -> None:
        """Have ready now what the first spoken turn needs: the local STT and end-of-turn model
        loaded, the LLM's reading of the instructions done (they load as the first speech
        arrives otherwise, and on a few cores the VAD falls behind the audio meanwhile)."""
        jobs: list[Awaitable[object]] = [self.session.turns.endpointing.load()]
        loading = self._start_stt_load() if self.detector is not None else None
        for task in (loading, self._prepared):
            if task is not None:
                jobs.append(asyncio.shield(task))
        await asyncio.gather(*jobs)

    def _start_stt_load(self) -> asyncio.Task[None] | None:
        """A local STT loads once, in the background, from the first audio (or ``warm_up``):
        typed chat never pays for it."""
        if not self._stt_loading:
            self._stt_loading = True
            load = getattr(self.stt, "load", None)  # the local models have one
            if load is not None:
                self._stt_loaded = self.session.spawn(self._load_stt(load), "stt-load")
        return self._stt_loaded

    async def _prepare(self, llm: LLM) -> None:
        messages = self.session.history.messages(self.agent.instructions)
        try:
            started = time.perf_counter()
            await llm.prepare(messages=messages, tools=self.tools)
            log.debug("LLM prepared", extra={"seconds": round(time.perf_counter() - started, 2)})
        except LkxError as exc:  # the first request meets it again, and reports it
            log.debug("LLM not prepared", extra={"reason": str(exc)})

    async def _load_stt(self, load: Callable[[], Awaitable[None]]) -> None:
        try:
            await load()
        except LkxError as exc:  # the first transcript meets it again, and reports it
            log.debug("STT not loaded", extra={"reason": str(exc)})

    async def connect_mcp(self) -> None:
        """List the tools of the agent's MCP servers (shared per process); a server that fails
        is reported by name (an ``error`` event) and the session goes on without it."""
        if not self.agent.spec.mcp_servers:
            return
        from livekitex_cli.tools.mcp import mcp_tools

        tools, problems = await mcp_tools(list(self.agent.spec.mcp_servers))
        taken = {t.name for t in [*self.agent.tools, *self.extra_tools]}
        self.mcp_tools = [t for t in tools if t.name not in taken]
        for clash in sorted({t.name for t in tools} & taken):  # the agent's own tool wins
            log.warning("MCP tool hidden by a tool of the same name", extra={"tool": clash})
        for problem in problems:
            log.warning("MCP server unavailable", extra={"server": problem.server})
            self.session.emit(SessionError(str(problem), service=f"mcp:{problem.server}"))

    @property
    def hears(self) -> bool:
        return self.detector is not None

    # audio in ------------------------------------------------------------------------------

    async def hear(
        self, pcm16: bytes, sample_rate: int, channels: int
    ) -> AsyncIterator[SpeechStarted | SpeechEnded]:
        """Turn events from 16-bit PCM of any length, as they are found."""
        assert self.detector is not None
        self._start_stt_load()
        mono = to_mono(pcm16, channels, self._carry)
        step = sample_rate * 2  # two seconds at a time keeps the loop responsive on big chunks
        for start in range(0, mono.size, step):
            samples = self._resampler.push(mono[start : start + step], sample_rate)
            for event in self.detector.push(samples):
                yield event
            if mono.size > step:
                await asyncio.sleep(0)

    def flush_audio(self) -> list[SpeechStarted | SpeechEnded]:
        return list(self.detector.flush()) if self.detector is not None else []

    # one turn ------------------------------------------------------------------------------

    def new_reply(self, item: SessionInput) -> Reply:
        turn = TurnMetrics(turn_id=f"turn_{uuid.uuid4().hex[:10]}", source=item.source)
        reply = Reply(self, turn, item.source)
        reply.started = item.received
        self.session.current_reply = reply
        return reply

    async def answer(self, item: SessionInput) -> None:
        """The whole of one turn. Cancelling it is an interruption: the partial reply is kept."""
        reply = self.new_reply(item)
        _REPLY.set(reply)
        with self.session.turns.spans.turn(reply, item):
            await self._answer(reply, item)

    async def _answer(self, reply: Reply, item: SessionInput) -> None:
        session = self.session
        session.set_state("thinking")
        try:
            if item.source == "greeting":
                await reply.say(item.text)
            elif item.source == "handoff":  # a transfer with no line: the new agent answers
                await self._generate(reply)
            else:
                text = item.text if item.audio is None else await self._transcribe(reply, item)
                if text is None:
                    return
                session.stats.messages_processed += 1
                session.history.add("user", text, source=item.source)
                if item.source == "audio":
                    session.emit(UserTranscript(text, True, reply.turn_id))
                await self._generate(reply)
            await speak_out(reply, self.turn.stall_timeout, self.agent.spec.fallback_line)
            reply.finish(interrupted=reply.stopped, error=reply.turn.error)
        except asyncio.CancelledError:
            reply.cancel_speaking()
            reply.finish(interrupted=True)
            raise

    async def regenerate(self, reply: Reply) -> None:
        """Answer the history again in ``reply`` (the last answer was stopped for nothing)."""
        await self._generate(reply)

    async def _generate(self, reply: Reply) -> None:
        """Run the LLM; if it fails for good, report it and say the fallback line instead."""
        try:
            watchdog = Watchdog(reply, self.turn.stall_timeout)
            await watchdog.run(reply.generate(), self.llm.service, warm=self.llm)
        except LkxError as exc:
            self.session.report_error(exc)
            reply.turn.error = True
            fallback = self.agent.spec.fallback_line
            await reply.say(f" {fallback}" if reply.streamed else fallback)

    async def _transcribe(self, reply: Reply, item: SessionInput) -> str | None:
        """The utterance's text, or ``None`` when there is nothing to answer."""
        assert item.audio is not None
        reply.turn.vad_end_of_speech_delay_ms = item.audio.detection_delay * 1000
        if item.text:  # transcribed already (judged as overlapping speech)
            return item.text
        if self.stt is None:
            return None
        try:
            transcript = await self.stt.transcribe(item.audio.utterance)
        except LkxError as exc:
            self.session.report_error(exc)
            reply.turn.error = True
            await reply.say(self.agent.spec.fallback_line)
            await reply.finish_speaking()
            reply.finish(interrupted=False, error=True)
            return None
        text = transcript.text.strip()
        if not text:
            if await self.session.turns.resume(reply, item.audio):  # a false interruption
                return None
            log.info("empty transcript ignored")
            self.session.current_reply = None  # nothing was said: no turn is recorded
            return None
        return text

    def _timing(self, timing: ProviderTiming) -> None:
        """Provider timings of this activity's own replies into the turn's metrics."""
        reply = _REPLY.get()
        if reply is None or reply.activity is not self:
            return
        self.session.turns.spans.timing(reply, timing)
        turn, ms = reply.turn, timing.elapsed * 1000
        if timing.kind == "llm" and timing.stage == "first_result" and turn.llm_ttft_ms is None:
            turn.llm_ttft_ms = ms
        elif timing.kind == "stt" and timing.stage == "done":
            turn.stt_duration_ms = ms
        elif timing.kind == "tts" and timing.stage == "first_result" and turn.tts_ttfb_ms is None:
            turn.tts_ttfb_ms = ms

    async def aclose(self) -> None:
        for remove in self._unobserve:
            remove()
        for provider in (self.llm, self.stt, self.tts, self.vad):
            if provider is not None:
                try:
                    await provider.aclose()
                except Exception:  # noqa: BLE001 - closing must not fail
                    log.exception("provider close failed")


def _text_turns(stt: STT | None) -> bool:
    """Whether ``detection: auto`` can be ``text``: an STT set to English (or to no language),
    and the text model installed."""
    from livekitex_cli.session.endpointing import text_detection_possible

    language = getattr(getattr(stt, "options", None), "language", None)
    return stt is not None and text_detection_possible(language)
