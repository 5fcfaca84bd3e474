"""One agent reply: LLM rounds with tool calls, sentences to TTS as they complete, playout.

The reply runs as one task; cancelling it is an interruption. Whatever was played by then is
what the history keeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from livekitex_cli.errors import ExternalServiceError, LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import ToolCall
from livekitex_cli.session.audio_input import Resampler
from livekitex_cli.session.events import (
    AgentAudio,
    AgentReply,
    AgentTextDelta,
    InputSource,
    MetricsUpdated,
    SessionError,
    ToolCallFinished,
    ToolCallStarted,
)
from livekitex_cli.session.metrics import TurnMetrics
from livekitex_cli.session.speech import SentenceSplitter, Spoken, SpokenSentence, frames
from livekitex_cli.session.watchdog import EmptyCompletion, note_empty
from livekitex_cli.tools import FunctionTool, RunContext, error_text, output_text, run_tool

if TYPE_CHECKING:
    from livekitex_cli.session.activity import AgentActivity

log = get_logger("session")
_DONE = object()


class Reply:
    """One reply of an agent's activity; what it says goes into the activity's session."""

    def __init__(self, activity: AgentActivity, turn: TurnMetrics, source: InputSource) -> None:
        self.activity = activity
        self.session = activity.session
        self.turn = turn
        self.source = source
        self.turn_id = turn.turn_id
        self.started = time.perf_counter()
        self.spoken = Spoken()
        self.captured = 0.0  # seconds of audio handed to the output so far
        self.heard: float | None = None  # seconds played out when the reply was stopped
        self.streamed: list[str] = []
        self._sentences: asyncio.Queue[object] = asyncio.Queue()
        self._speaker: asyncio.Task[None] | None = None
        self._first_output: float | None = None
        self.stopped = False
        self.tools_running = 0  # tool batches at work (a stall watchdog does not count them)

    @property
    def voiced(self) -> bool:
        return self.activity.tts is not None

    def start_speaker(self) -> None:
        if self.voiced and self._speaker is None:
            self._speaker = asyncio.create_task(
                self._speak_loop(), name=f"lkx-speak-{self.turn_id}"
            )

    async def finish_speaking(self) -> None:
        """Wait until the last sentence is synthesized and its audio played out: the agent is
        speaking until the user has heard it all."""
        if self._speaker is not None:
            self._sentences.put_nowait(_DONE)
            await self._speaker
            if not self.stopped:
                await self.session.audio_output.wait_for_playout()

    def cancel_speaking(self) -> None:
        if self._speaker is not None and not self._speaker.done():
            self._speaker.cancel()

    def reset_speaker(self) -> None:
        """Drop the speaker and its queued sentences (it stalled); the next ``say`` restarts."""
        self.cancel_speaking()
        self._speaker, self._sentences = None, asyncio.Queue()

    def stop(self) -> None:
        """Interrupted: play nothing more, even if a cancellation is lost on the way. Call it
        before the output's queue is cleared: what was heard is the audio not still queued."""
        self.hold_heard()
        self.stopped = True
        self.cancel_speaking()

    def hold_heard(self) -> float:
        """What the user heard of this reply, read once (the output's clock moves on)."""
        if self.heard is None:
            self.heard = self.played_out()
        return self.heard

    def played_out(self) -> float:
        """Seconds of this reply's audio the output has played out so far."""
        return max(0.0, self.captured - self.session.audio_output.queued)

    async def say(self, text: str) -> None:
        """Say a fixed line (greeting, fallback) through the same path as an LLM reply."""
        self.start_speaker()
        self._text(text)
        self._sentence(text)

    async def generate(self) -> None:
        """LLM rounds until a text answer, running the tools it asks for in between. An empty
        completion is asked once more without tools, then is an error (``watchdog``)."""
        agent, llm = self.activity.agent, self.activity.llm
        splitter = SentenceSplitter()
        self.start_speaker()
        rounds = agent.spec.max_tool_rounds
        for index in range(rounds + 1):
            if self.stopped:  # interrupted while a tool ran: its result is kept, no more rounds
                return
            offered = self.activity.tools if index < rounds else []
            choice = None if index == 0 else "auto"
            calls, round_text, request_id = await self._round(splitter, offered, choice)
            if not calls and not round_text and not self.stopped:
                note_empty(self, llm.service, request_id, retried=False)
                calls, round_text, request_id = await self._round(splitter, [], None)
                if not calls and not round_text and not self.stopped:
                    note_empty(self, llm.service, request_id, retried=True)
                    raise EmptyCompletion(llm.service, request_id)
                offered = []
            if self.stopped:
                return
            if calls and not offered and not round_text:
                reason = f"still calling tools after max_tool_rounds ({rounds})"
                raise ExternalServiceError(llm.service, reason)
            if not calls or not offered:
                break
            self.session.history.add_tool_calls("".join(round_text), calls)
            await self._run_tools(calls)
            if self.session.handoffs.pending is not None:
                break  # a transfer: this agent's reply ends here, the next agent goes on
        for sentence in splitter.flush():
            self._sentence(sentence)

    async def _round(
        self, splitter: SentenceSplitter, offered: list[FunctionTool], choice: str | None
    ) -> tuple[list[ToolCall], list[str], str]:
        """One LLM call: its tool calls, its text and (when it said nothing) its request id."""
        calls: list[ToolCall] = []
        round_text: list[str] = []
        first: float | None = None
        tokens, request_id = 0, ""
        messages = self.session.history.messages(self.activity.agent.instructions)
        async for delta in self.activity.llm.chat(
            messages=messages, tools=offered, tool_choice=choice
        ):
            if self.stopped:
                break
            request_id = delta.request_id or request_id
            if delta.tool_call is not None:
                calls.append(delta.tool_call)
            if delta.text:
                if first is None:
                    first = time.perf_counter()
                tokens += delta.completion_tokens or 1
                round_text.append(delta.text)
                self._text(delta.text)
                for sentence in splitter.push(delta.text):
                    self._sentence(sentence)
        if first is not None:
            elapsed = time.perf_counter() - first
            if elapsed > 0 and tokens > 1:
                self.turn.llm_tokens_per_second = (tokens - 1) / elapsed
        return calls, round_text, request_id

    async def _run_tools(self, calls: list[ToolCall]) -> None:
        self.tools_running += 1
        try:
            results = await asyncio.gather(*(self._run_tool(call) for call in calls))
        finally:
            self.tools_running -= 1
        for call, (output, failed) in zip(calls, results, strict=True):
            self.session.history.add_tool_result(call, output, error=failed)

    async def _run_tool(self, call: ToolCall) -> tuple[str, bool]:
        session, agent = self.session, self.activity.agent
        session.emit(ToolCallStarted(call.id, call.name, call.arguments))
        started = time.perf_counter()
        error: LkxError | None = None
        try:
            tool = next((t for t in self.activity.tools if t.name == call.name), None)
            if tool is None:
                agent.registry.get(call.name)  # unknown: names the close matches
                raise LkxError(f"tool '{call.name}' is not offered to this agent")
            context = RunContext(
                session=session, agent=agent, user_data=session.user_data, call_id=call.id
            )
            output = output_text(await run_tool(tool, call.arguments, context))
        except LkxError as exc:
            error = exc
            output = error_text(exc)
        duration = (time.perf_counter() - started) * 1000
        session.stats.tool_calls_executed += 1
        self.turn.tool_calls += 1
        if error is not None:
            session.stats.tool_errors += 1
            log.info("tool call failed", extra={"tool": call.name, "error": str(error)})
        session.emit(
            ToolCallFinished(call.id, call.name, output, str(error) if error else None, duration)
        )
        return output, error is not None

    def _text(self, text: str) -> None:
        self.streamed.append(text)
        self.session.emit(AgentTextDelta(self.turn_id, text))
        if not self.voiced:
            self._mark_output()
            self.session.set_state("speaking")

    def _sentence(self, sentence: str) -> None:
        if self.voiced:
            self._sentences.put_nowait(sentence)

    def _mark_output(self) -> None:
        if self._first_output is None:
            self._first_output = time.perf_counter()
            self.turn.response_time_ms = (self._first_output - self.started) * 1000

    async def _speak_loop(self) -> None:
        session = self.session
        tts = self.activity.tts
        assert tts is not None
        resampler = Resampler(session.output_sample_rate)
        while True:
            item = await self._sentences.get()
            if item is _DONE:
                return
            text = str(item)
            # the sentence spans its audio on the reply's timeline, as far as synthesized
            sentence = SpokenSentence(text, self.captured, self.captured)
            self.spoken.sentences.append(sentence)
            synthesized = 0.0
            try:
                async for chunk in tts.synthesize(text):
                    synthesized += chunk.duration
                    sentence.end = max(sentence.end, sentence.start + synthesized)
                    resampled = resampler.push(chunk.to_array(), chunk.sample_rate)
                    out = AudioChunk(resampled.tobytes(), session.output_sample_rate, 1)
                    for frame in frames(out):
                        if self.stopped:
                            return
                        await session.audio_output.capture(frame)
                        self.captured += frame.duration
                        sentence.end = max(sentence.end, self.captured)
                        self._mark_output()
                        session.set_state("speaking")
                        session.emit(AgentAudio(self.turn_id, frame))
            except LkxError as exc:
                session.report_error(exc)
                # what did play of it stays on the timeline, as time nobody can attribute words to
                self.spoken.sentences.remove(sentence)
                continue
            sentence.end = self.captured

    def finish(self, *, interrupted: bool, error: bool = False) -> None:
        """Record the turn: history keeps what was said (only what was heard if interrupted)."""
        session = self.session
        text = self.final_text(interrupted=interrupted)
        if text:
            session.history.add(
                "agent", text, interrupted=interrupted, source=self.source, error=error
            )
        self.turn.interrupted = interrupted
        self.turn.error = error
        session.emit(AgentReply(self.turn_id, text, interrupted, self.source))
        session.stats.record(self.turn)
        session.emit(MetricsUpdated(self.turn.to_dict()))

    def final_text(self, *, interrupted: bool) -> str:
        """The whole reply, or when interrupted, only what the user heard (or was sent): the
        audio played out, not what was still queued."""
        if interrupted and self.voiced:
            heard = self.heard if self.heard is not None else self.played_out()
            return self.spoken.text(heard)
        return "".join(self.streamed).strip()


def error_event(exc: LkxError) -> SessionError:
    service, reason = getattr(exc, "service", ""), getattr(exc, "code", "")
    return SessionError(str(exc), service=service, recoverable=True, reason=reason)
