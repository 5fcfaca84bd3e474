"""Answer one input: transcribe it if spoken, generate and speak the reply, record the turn."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.session.events import UserTranscript
from livekitex_cli.session.reply import Reply

if TYPE_CHECKING:
    from livekitex_cli.session.session import AgentSession, _Input

log = get_logger("session")


async def answer(session: AgentSession, item: _Input) -> None:
    """The whole of one turn. Cancelling it is an interruption: the partial reply is kept."""
    reply = session.new_reply(item)
    session.set_state("thinking")
    try:
        if item.source == "greeting":
            await reply.say(item.text)
        else:
            text = item.text if item.audio is None else await _transcribe(session, reply, item)
            if text is None:
                return
            session.stats.messages_processed += 1
            session.history.add("user", text, source=item.source)
            if item.source == "audio":
                session.emit(UserTranscript(text, True, reply.turn_id))
            await _generate(session, reply)
        await reply.finish_speaking()
        reply.finish(interrupted=reply.stopped, error=reply.turn.error)
    except asyncio.CancelledError:
        reply.cancel_speaking()
        reply.finish(interrupted=True)
        raise


async def _generate(session: AgentSession, reply: Reply) -> None:
    """Run the LLM; if it fails for good, report it and say the fallback line instead."""
    try:
        await reply.generate()
    except LkxError as exc:
        session.report_error(exc)
        reply.turn.error = True
        fallback = session.agent.spec.fallback_line
        await reply.say(f" {fallback}" if reply.streamed else fallback)


async def _transcribe(session: AgentSession, reply: Reply, item: _Input) -> str | None:
    """The utterance's text, or ``None`` when there is nothing to answer."""
    assert item.audio is not None
    reply.turn.vad_end_of_speech_delay_ms = item.audio.detection_delay * 1000
    if session.stt is None:
        return None
    started = time.perf_counter()
    try:
        transcript = await session.stt.transcribe(item.audio.utterance)
    except LkxError as exc:
        session.report_error(exc)
        reply.turn.error = True
        await reply.say(session.agent.spec.fallback_line)
        await reply.finish_speaking()
        reply.finish(interrupted=False, error=True)
        return None
    reply.turn.stt_duration_ms = (time.perf_counter() - started) * 1000
    text = transcript.text.strip()
    if not text:
        log.info("empty transcript ignored")
        session.drop_reply()
        return None
    return text
