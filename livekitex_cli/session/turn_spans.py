"""The spans of a session's turns: one ``turn`` span per reply, current while the reply runs
(so log records and the tasks it starts carry it), with a child for each step:

- ``end_of_turn``: a spoken turn's silence, from the last speech to the decision
- ``stt``, ``llm``, ``tts``: each provider request, from the providers' timings (the one
  observer hook of ``providers.base``): ``llm`` with the time to its first token and the
  tokens in and out (when the server counts them), ``tts`` (one per sentence) with the time
  to its first audio
- ``tool``: each tool call, from the session's ``tool_call_started``/``finished`` events

When tracing is off (``livekitex_cli.tracing.configured``), ``SessionTracing`` does nothing
and imports nothing of OpenTelemetry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from livekitex_cli.session.events import ToolCallFinished, ToolCallStarted
from livekitex_cli.tracing import tracer

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from livekitex_cli.providers import ProviderTiming
    from livekitex_cli.session.reply import Reply
    from livekitex_cli.session.session import AgentSession, SessionInput

FIRST = {"llm": "lkx.llm.ttft_ms", "tts": "lkx.tts.ttfb_ms", "stt": "lkx.stt.first_ms"}


class SessionTracing:
    def __init__(self, session: AgentSession) -> None:
        self.session = session
        self.tracer: Tracer | None = tracer()
        self._turns: dict[str, Span] = {}
        self._tools: dict[str, Span] = {}
        self._first: dict[tuple[str, str, int], float] = {}  # first-result seconds per request
        if self.tracer is not None:
            session.on("tool_call_started", self._tool_started)
            session.on("tool_call_finished", self._tool_finished)

    @contextmanager
    def turn(self, reply: Reply, item: SessionInput) -> Iterator[None]:
        """The ``turn`` span around answering ``item`` with ``reply``."""
        if self.tracer is None:
            yield
            return
        from opentelemetry import context, trace

        decided = _epoch_ns(item.received)  # the input was queued: the turn had ended
        start = decided
        if item.audio is not None:
            start -= int(item.audio.detection_delay * 1e9)
        span = self.tracer.start_span("turn", start_time=start, attributes=self._attributes(reply))
        if item.audio is not None:
            detection = self.session.activity.turn.detection
            eot = self.tracer.start_span(
                "end_of_turn",
                context=trace.set_span_in_context(span),
                start_time=start,
                attributes={
                    "lkx.end_of_turn.detection": str(detection),
                    "lkx.end_of_turn.delay_ms": item.audio.detection_delay * 1000,
                },
            )
            eot.end(end_time=decided)
        self._turns[reply.turn_id] = span
        token = context.attach(trace.set_span_in_context(span))
        try:
            yield
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            context.detach(token)
            self._end_turn(reply, span)

    def timing(self, reply: Reply, timing: ProviderTiming) -> None:
        """A provider's timing within ``reply``: its span once the request is over."""
        span = self._turns.get(reply.turn_id)
        if self.tracer is None or span is None:
            return
        key = (reply.turn_id, timing.service, _task_id())
        if timing.stage == "first_result":
            self._first[key] = timing.elapsed
            return
        from opentelemetry import trace

        end = time.time_ns()
        attributes: dict[str, Any] = {"lkx.service": timing.service}
        first = self._first.pop(key, None)
        if first is not None and timing.kind in FIRST:
            attributes[FIRST[timing.kind]] = first * 1000
        for name, count in timing.usage.items():  # OpenTelemetry's GenAI names
            attributes[f"gen_ai.usage.{name}"] = count
        child = self.tracer.start_span(
            timing.kind,
            context=trace.set_span_in_context(span),
            start_time=end - int(timing.elapsed * 1e9),
            attributes=attributes,
        )
        if timing.stage == "failed":
            child.set_status(trace.Status(trace.StatusCode.ERROR, f"{timing.service} failed"))
        child.end(end_time=end)

    def _attributes(self, reply: Reply) -> dict[str, Any]:
        session = self.session
        attributes: dict[str, Any] = {
            "lkx.turn.id": reply.turn_id,
            "lkx.turn.source": reply.source,
            "lkx.agent": reply.activity.agent.name,
            "lkx.session.id": session.session_id,
        }
        if session.room_id:
            attributes["lkx.room"] = session.room_id
        job_id = session.user_data.get("job_id")
        if isinstance(job_id, str) and job_id:
            attributes["lkx.job.id"] = job_id
        return attributes

    def _end_turn(self, reply: Reply, span: Span) -> None:
        from opentelemetry import trace

        figures = reply.turn
        span.set_attribute("lkx.turn.interrupted", figures.interrupted or reply.stopped)
        span.set_attribute("lkx.turn.tool_calls", figures.tool_calls)
        for name in ("llm_ttft_ms", "tts_ttfb_ms", "response_time_ms"):
            value = getattr(figures, name)
            if value is not None:
                span.set_attribute(f"lkx.turn.{name}", value)
        if figures.error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, "the turn failed"))
        span.end()
        self._turns.pop(reply.turn_id, None)
        for key in [key for key in self._first if key[0] == reply.turn_id]:
            del self._first[key]  # requests cut short by an interruption report no end

    def _tool_started(self, event: ToolCallStarted) -> None:
        assert self.tracer is not None
        attributes = {"lkx.tool.name": event.name, "lkx.tool.call_id": event.call_id}
        # started in the turn's task: the turn's span is the current one
        self._tools[event.call_id] = self.tracer.start_span("tool", attributes=attributes)

    def _tool_finished(self, event: ToolCallFinished) -> None:
        from opentelemetry import trace

        span = self._tools.pop(event.call_id, None)
        if span is None:
            return
        span.set_attribute("lkx.tool.outcome", "error" if event.error else "ok")
        if event.error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, event.error))
        span.end()


def _epoch_ns(perf: float) -> int:
    """A ``time.perf_counter()`` reading as nanoseconds since the epoch."""
    return time.time_ns() - int((time.perf_counter() - perf) * 1e9)


def _task_id() -> int:
    try:
        return id(asyncio.current_task())
    except RuntimeError:
        return 0
