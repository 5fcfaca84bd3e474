"""A silent agent is a failure: the stall watchdog and empty LLM completions.

``Watchdog.run`` awaits one phase of a reply (thinking, speaking) and ends it with
``Stalled`` when the reply makes no progress for ``stall_timeout`` seconds. Progress is what
the user could notice: LLM text, a tool call, TTS audio handed to the output, audio still
playing out. A running tool is not a stall (tools have their own timeouts).

An LLM that answers with nothing (no text, no tool call) is silence too: ``note_empty`` logs it
with the server's request id and counts it; the reply asks once more without tools, then gives
up with ``EmptyCompletion`` (and the session says its fallback line).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from livekitex_cli.errors import ExternalServiceError
from livekitex_cli.log import get_logger

if TYPE_CHECKING:
    from livekitex_cli.providers import Provider
    from livekitex_cli.session.reply import Reply

log = get_logger("session")
T = TypeVar("T")


class Stalled(ExternalServiceError):
    """A reply made no progress for ``seconds`` while waiting on ``service``."""

    code = "stalled"

    def __init__(self, service: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(service, f"stalled: no progress for {seconds:g} s")


class EmptyCompletion(ExternalServiceError):
    """The LLM answered with no text and no tool call, even when asked again without tools."""

    code = "empty_completion"

    def __init__(self, service: str, request_id: str = "") -> None:
        self.request_id = request_id
        where = f" (request {request_id})" if request_id else ""
        super().__init__(service, f"empty completion: no text and no tool call{where}")


class Watchdog:
    """Watches one reply; ``run`` guards one awaitable with the stall deadline."""

    def __init__(self, reply: Reply, stall_timeout: float) -> None:
        self.reply = reply
        self.stall_timeout = stall_timeout
        self.poll = min(0.25, stall_timeout / 4)

    def _progress(self) -> tuple[object, ...]:
        reply = self.reply
        playing = reply.session.audio_output.queued > 0
        # a tool at work or audio playing changes the signature on every look: never a stall
        busy = time.monotonic() if reply.tools_running or playing else 0.0
        return len(reply.streamed), reply.captured, reply.turn.tool_calls, busy

    async def run(
        self, awaitable: Awaitable[T], service: str, *, warm: Provider | None = None
    ) -> T:
        """``awaitable``'s result, or ``Stalled(service)`` once it stops making progress.
        ``warm``: a provider whose local model is loaded first (``load()``), outside the
        deadline: loading is slow on a busy machine, and not a stall."""
        load = getattr(warm, "load", None)
        if load is not None:
            await load()
        # until the first progress, the provider may take its declared grace on top (a local
        # model reads a long prompt before its first word: seconds on a busy CPU)
        grace = float(getattr(warm, "stall_grace", 0.0) or 0.0)
        task = asyncio.ensure_future(awaitable)
        try:
            seen, since = self._progress(), time.monotonic()
            while True:
                await asyncio.wait({task}, timeout=self.poll)
                if task.done():
                    return task.result()
                now, progress = time.monotonic(), self._progress()
                if progress != seen:
                    seen, since, grace = progress, now, 0.0
                elif now - since >= self.stall_timeout + grace:
                    task.cancel()
                    await asyncio.wait({task})
                    self.reply.session.stats.stalls += 1
                    self.reply.turn.stalled = True
                    log.warning(
                        "reply stalled",
                        extra={"service": service, "turn_id": self.reply.turn_id,
                               "seconds": self.stall_timeout},
                    )  # fmt: skip
                    raise Stalled(service, self.stall_timeout)
        finally:
            if not task.done():  # we were cancelled (an interruption): so is the phase
                task.cancel()
                await asyncio.wait({task})


def note_empty(reply: Reply, service: str, request_id: str, *, retried: bool) -> None:
    """Log and count one empty completion."""
    reply.session.stats.empty_completions += 1
    reply.turn.empty_completions += 1
    log.warning(
        "empty completion from the llm",
        extra={"service": service, "request_id": request_id or None, "turn_id": reply.turn_id,
               "retry": "given up" if retried else "once more without tools"},
    )  # fmt: skip


async def speak_out(reply: Reply, stall_timeout: float, fallback: str) -> None:
    """``reply.finish_speaking`` under the watchdog: a TTS that stalls is reported, its queued
    sentences dropped, and the fallback line tried once (given up quietly if that stalls too)."""
    tts = reply.activity.tts
    service = tts.service if tts is not None else "tts"
    watchdog = Watchdog(reply, stall_timeout)
    try:
        await watchdog.run(reply.finish_speaking(), service, warm=tts)
        return
    except Stalled as exc:
        reply.session.report_error(exc)
        reply.turn.error = True
    reply.reset_speaker()
    await reply.say(f" {fallback}")
    try:
        await watchdog.run(reply.finish_speaking(), service)
    except Stalled:
        reply.reset_speaker()
