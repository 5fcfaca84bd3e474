"""Typed chat from a room, bounded: a participant flooding ``lk.chat`` costs a bounded number of
LLM turns and bounded memory, and a message sent after the flood is answered next.

Typing is not barging in: the reply under way is not interrupted. Messages that arrive while
the agent is busy (a reply under way or queued) wait, and are joined, one per line, into the
next user turn once it is free, in the order their sender sent them (the streams' header
``timestamp``, the sender's clock), should their streams have opened here in another order.
That turn keeps the newest ``MAX_PENDING`` messages within ``MAX_PENDING_CHARS``; older ones
are dropped, counted (``chat_dropped`` in the session's metrics,
``lkx_chat_messages_dropped_total`` on ``/metrics``) and logged once per burst (drops less than
``BURST_GAP`` apart, however many turns the burst spans). A message over ``MAX_MESSAGE_CHARS``
is cut to that length (``chat_truncated``), and the rest of its stream is never read into
memory.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from livekit import rtc

from livekitex_cli.log import get_logger
from livekitex_cli.session import AgentSession
from livekitex_cli.session.session import MAX_TEXT

log = get_logger("worker")
MAX_MESSAGE_CHARS = MAX_TEXT  # what the session takes in one turn
MAX_PENDING = 20  # messages joined into one turn
MAX_PENDING_CHARS = MAX_TEXT  # their length, newlines included
BURST_GAP = 5.0  # seconds without a drop that end a burst (and its one warning)


class ChatInbox:
    """One room's typed input to its session."""

    def __init__(
        self,
        session: AgentSession,
        *,
        room: rtc.Room,
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
    ) -> None:
        self.session = session
        self.room = room
        self._spawn = spawn
        self._pending: deque[tuple[int | None, str]] = deque()  # (sent at, ms), text
        self._chars = 0  # of the pending messages, one newline each
        self._dropped = 0  # since the last turn was handed over
        self._last_drop = -BURST_GAP  # when a message was last dropped (the clock's time)
        self._delivering = False
        self._order = itertools.count()  # messages by arrival
        self._next = 0  # the next of them to queue
        self._arrived: dict[int, tuple[int | None, str | None]] = {}  # read, waiting

    async def read(self, reader: rtc.TextStreamReader) -> None:
        """Read one message (at most ``MAX_MESSAGE_CHARS`` of it) and queue it, in the order
        the messages began to arrive: a short message read to its end before a longer one
        that came first waits for it (readers run side by side)."""
        place = next(self._order)  # before any await: readers start in arrival order
        sent = reader.info.timestamp or None
        text: str | None = None
        try:
            text = await self._read_text(reader)
        finally:  # failed or cancelled, its place is freed all the same
            self._arrived[place] = (sent, text)
            self._release()

    def _release(self) -> None:
        while self._next in self._arrived:
            sent, ready = self._arrived.pop(self._next)
            self._next += 1
            if ready is not None:
                self.submit(ready, sent_at=sent)

    async def _read_text(self, reader: rtc.TextStreamReader) -> str | None:
        parts: list[str] = []
        kept, cut = 0, False
        try:
            async for chunk in reader:
                piece = chunk[: MAX_MESSAGE_CHARS - kept]
                parts.append(piece)
                kept += len(piece)
                cut = len(piece) < len(chunk)
                if cut:
                    break  # the rest is not read: a flood of long messages holds no memory
        except rtc.StreamError as exc:  # the sender left (or gave up) in the middle
            log.debug("chat stream broken off", extra={"room": self.room.name, "error": str(exc)})
            return None
        finally:
            reader.close()  # a stream left unread stays subscribed to every native event
        text = "".join(parts)
        log.debug("chat received", extra={"room": self.room.name, "chars": len(text)})
        if cut:
            self.session.stats.chat_truncated += 1
            log.warning(
                "chat message too long, cut short", extra={"room": self.room.name, "kept": kept}
            )
        return text

    def submit(self, text: str, *, sent_at: int | None = None) -> None:
        """Queue one message for the next turn, behind the waiting ones sent no later than
        ``sent_at`` (ms, the sender's clock; ``None``: where it came, and no later message goes
        before it); the oldest give way beyond the bounds."""
        text = text.strip()
        if not text or self.session.closed:
            return  # nothing said, or said as the call ended (a last word before leaving)
        at = len(self._pending)
        while sent_at is not None and at and (self._pending[at - 1][0] or 0) > sent_at:
            at -= 1
        self._pending.insert(at, (sent_at, text))
        self._chars += len(text) + 1
        while len(self._pending) > MAX_PENDING or self._chars > MAX_PENDING_CHARS + 1:
            self._chars -= len(self._pending.popleft()[1]) + 1
            self.session.stats.chat_dropped += 1
            self._dropped += 1
            now = time.monotonic()
            if now - self._last_drop >= BURST_GAP:
                log.warning(
                    "chat arriving faster than the agent answers, older messages dropped",
                    extra={"room": self.room.name, "kept": MAX_PENDING},
                )
            self._last_drop = now
        if not self._delivering:
            self._delivering = True
            self._spawn(self._deliver(), "chat")

    async def _deliver(self) -> None:
        """Hand the waiting messages over as one turn whenever the session is free."""
        try:
            while self._pending:
                await self.session.wait_idle()
                if self.session.closed:
                    return
                text = "\n".join(message for _, message in self._pending)
                if self._dropped:
                    log.info(
                        "chat burst answered",
                        extra={"room": self.room.name, "joined": len(self._pending),
                               "dropped": self._dropped},
                    )  # fmt: skip
                self._pending.clear()
                self._chars = self._dropped = 0
                await self.session.process_text(text)
        finally:
            self._delivering = False
