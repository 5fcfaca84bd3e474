"""What one turn did, to assert on: ``result = await session.run(user_input=...)``.

A ``Recording`` listens to a session from its creation until ``finish()`` and keeps every event
with its time; the ``RunResult`` it returns lists the turn's conversation items (replies, tool
calls and their outputs, errors) as typed ``RunEvent``\\ s, and ``result.expect`` walks them::

    result = await session.run(user_input="Weather in Paris?")
    result.expect.next_event().is_function_call(name="get_weather", arguments={"city": "Paris"})
    result.expect.next_event().is_function_call_output()
    await result.expect.next_event().is_message(contains="sunny").judge(llm, intent="...")
    result.expect.no_more_events()

``lkx test`` reads the same results; the matching rules below are shared with it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic

from livekitex_cli.errors import OperationTimeoutError
from livekitex_cli.session.events import (
    AgentAudio,
    AgentReply,
    AgentState,
    AgentTextDelta,
    SessionError,
    SessionEvent,
    StateChanged,
    ToolCallFinished,
    ToolCallStarted,
)

if TYPE_CHECKING:
    from livekitex_cli.session.run_expect import RunExpect
    from livekitex_cli.session.session import AgentSession


class _Item(pydantic.BaseModel):
    at_ms: float = 0.0  # from the start of the recording


class MessageEvent(_Item):
    """An agent reply. ``heard`` is what a listener transcribed of its audio (audio tests)."""

    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    text: str
    interrupted: bool = False
    source: str = "text"
    turn_id: str = ""
    first_output_ms: float | None = None  # first audio frame if voiced, else first text
    heard: str | None = None

    @property
    def content(self) -> str:
        return self.heard if self.heard is not None else self.text


class FunctionCallEvent(_Item):
    type: Literal["function_call"] = "function_call"
    name: str
    arguments: dict[str, Any] | None  # None: the LLM sent arguments that are not a JSON object
    raw_arguments: str = ""
    call_id: str = ""


class FunctionCallOutputEvent(_Item):
    type: Literal["function_call_output"] = "function_call_output"
    name: str
    output: str
    is_error: bool = False
    call_id: str = ""
    duration_ms: float = 0.0


class ErrorEvent(_Item):
    type: Literal["error"] = "error"
    message: str
    service: str = ""


RunEvent = Annotated[
    MessageEvent | FunctionCallEvent | FunctionCallOutputEvent | ErrorEvent,
    pydantic.Field(discriminator="type"),
]


def run_event(at: float, event: SessionEvent, first: dict[str, float]) -> RunEvent | None:
    """The conversation item a session event stands for, if any."""
    if isinstance(event, AgentReply):
        return MessageEvent(
            at_ms=at, text=event.text, interrupted=event.interrupted, source=event.source,
            turn_id=event.turn_id, first_output_ms=first.get(event.turn_id),
        )  # fmt: skip
    if isinstance(event, ToolCallStarted):
        arguments = _object(event.arguments)
        return FunctionCallEvent(
            at_ms=at, name=event.name, arguments=arguments, raw_arguments=event.arguments,
            call_id=event.call_id,
        )  # fmt: skip
    if isinstance(event, ToolCallFinished):
        return FunctionCallOutputEvent(
            at_ms=at, name=event.name, output=event.output, is_error=event.error is not None,
            call_id=event.call_id, duration_ms=event.duration_ms,
        )  # fmt: skip
    if isinstance(event, SessionError):
        return ErrorEvent(at_ms=at, message=event.message, service=event.service)
    return None


def _object(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class RunResult:
    """One turn: every session event with its time (``timeline``) and the items made of them."""

    user_input: str | None
    timeline: list[tuple[float, SessionEvent]] = field(default_factory=list)
    input_ms: float = 0.0  # when the input counts as sent (audio: the end of the user's speech)
    timed_out: bool = False

    @cached_property
    def events(self) -> list[RunEvent]:
        text: dict[str, float] = {}  # turn id -> first text out
        audio: dict[str, float] = {}  # turn id -> first audio frame out
        for at, event in self.timeline:
            if isinstance(event, AgentTextDelta):
                text.setdefault(event.turn_id, at)
            elif isinstance(event, AgentAudio):
                audio.setdefault(event.turn_id, at)
        first = {**text, **audio}
        items = (run_event(at, event, first) for at, event in self.timeline)
        return [item for item in items if item is not None]

    @property
    def states(self) -> list[AgentState]:
        """The agent's states entered during the turn, in order."""
        return [e.new for _, e in self.timeline if isinstance(e, StateChanged)]

    @property
    def replies(self) -> list[MessageEvent]:
        return [e for e in self.events if isinstance(e, MessageEvent)]

    @cached_property
    def expect(self) -> RunExpect:
        """Walks ``events`` in order: ``result.expect.next_event().is_message(...)``."""
        from livekitex_cli.session.run_expect import RunExpect

        return RunExpect(self.events, self.user_input)


class Recording:
    """Records a session's events from now until ``finish()``."""

    def __init__(self, session: AgentSession, user_input: str | None = None) -> None:
        self.started = time.perf_counter()
        self.result = RunResult(user_input)
        self._watch: tuple[Callable[[SessionEvent], bool], asyncio.Future[None]] | None = None
        self._remove = session.on("*", self._record)

    def _record(self, event: SessionEvent) -> None:
        self.result.timeline.append(((time.perf_counter() - self.started) * 1000, event))
        if self._watch is not None and self._watch[0](event) and not self._watch[1].done():
            self._watch[1].set_result(None)

    def mark_input(self) -> None:
        """The input counts as sent from now (``within_ms`` is measured from here)."""
        self.result.input_ms = (time.perf_counter() - self.started) * 1000

    async def until(self, predicate: Callable[[SessionEvent], bool], timeout: float) -> None:
        """Wait for an event (already recorded, or to come) that satisfies ``predicate``."""
        if any(predicate(event) for _, event in self.result.timeline):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watch = (predicate, future)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            self._watch = None

    def finish(self) -> RunResult:
        self._remove()
        return self.result


async def run_turn(
    session: AgentSession, *, user_input: str | None = None, timeout: float = 60.0
) -> RunResult:
    """Send ``user_input`` (``None``: send nothing, wait for what is pending such as the
    greeting) and record until the agent is done. ``OperationTimeoutError`` after ``timeout``."""
    recording = Recording(session, user_input)  # before start: a greeting is recorded
    try:
        await session.start()
        if user_input is not None:
            await session.process_text(user_input)
        await session.wait_idle(timeout)
    except TimeoutError:
        raise OperationTimeoutError("agent turn", timeout) from None
    finally:
        recording.finish()
    return recording.result
