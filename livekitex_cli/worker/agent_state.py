"""The agent's state as front ends read it: the ``lk.agent.state`` attribute of the agent's
participant (with ``lk.agent.active``, the agent answering after handoffs).

One update is under way at a time and sends the newest state: a busy worker skips states
nobody could have seen, and the last one always lands. It has a sender of its own, beside the
room's outbox of text: an update sometimes takes livekit's full 5 s request timeout to return
(then without an error), and a reply's text queued behind it arrived 5 s late, even in one
room (4 of 900 updates in a bare livekit test). Landing is checked: the
server echoes the agent's attributes back once it has applied them, and a state that has not
come back ``CHECK_AFTER`` seconds later, or that something else in the room changed since, is
sent again, with backoff, for about a minute (``TRIES`` sends per state; a warning if none
landed). Under three test suites at once, one of fifty agents stayed without a state: its
only update (an agent without a greeting sets ``listening`` once) never showed, and a front
end that waits for the state before it talks waited for good. With the check, a later run's
first tries failed in three rooms; two landed when sent again, and in one every try failed
(4 in 22 s, each update taking 5 s to fail in livekit's native layer): hence the backoff. In
a two-node cluster one agent of forty got none of seven tries through in 100 s (the server
logged nothing of them): from the third try on, a worker that has the server's API key sends
the state through the server's API instead (``RoomService.UpdateParticipant``), a path that
does not go through the agent's own connection.

An update the server has echoed back has landed, returned or not: the next state is sent
then, without waiting out the late return (a ``speaking`` whose update took 5 s to return
held back the ``listening`` after it until 3.6 s past the end of the voice, in a CI run)."""

from __future__ import annotations

import asyncio

from livekit import api, rtc

from livekitex_cli.log import get_logger
from livekitex_cli.session import AgentSession
from livekitex_cli.worker.dispatch import Server, call_api
from livekitex_cli.worker.room_output import ATTR_ACTIVE, ATTR_STATE

log = get_logger("worker")
CHECK_AFTER = 2.0  # seconds for the server to echo an update back before it is sent again...
BACKOFF = 2.0  # ...times this for each try after the first, up to...
LONGEST = 15.0  # ...this: TRIES sends span about a minute
TRIES = 7
OWN_TRIES = 2  # sends through the agent's own connection before the server API is used


class AgentState:
    """Publishes the session's state into the room from a sender of its own (``run``): an
    update can take livekit's whole 5 s request timeout to return, and it must not hold up
    the room's other sends (a reply's text queued behind one arrived 5 s late)."""

    def __init__(self, room: rtc.Room, session: AgentSession, server: Server | None = None) -> None:
        """``server``: the LiveKit server's API and its key, for a state that the agent's own
        connection does not get through (a worker has them; ``connect_to_room`` may not)."""
        self.room = room
        self.session = session
        self.server = server
        self.state = ""
        self._wanted = asyncio.Event()  # a state not sent yet
        self._tries = 0  # sends of the current state
        self._check: asyncio.TimerHandle | None = None
        self._sending = ""  # the state of the update under way...
        self._echoed = asyncio.Event()  # ...which the server has echoed back: it has landed
        self._late: set[asyncio.Task[None]] = set()  # landed updates still to return
        room.on("participant_attributes_changed", self._on_attributes)

    def set(self, state: str) -> None:
        if state != self.state:
            self._tries = 0
        self.state = state
        self._wanted.set()

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()
        for send in list(self._late):
            send.cancel()

    async def run(self) -> None:
        """Send the newest state whenever one is wanted, one update at a time: states that
        came and went while an update was under way are skipped, the last one always sent.
        An update is over when it returns or when the server echoes it, whichever is first."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            state, self._tries = self.state, self._tries + 1
            self._sending = state
            self._echoed.clear()
            send = asyncio.ensure_future(self._send(state))
            echoed = asyncio.ensure_future(self._echoed.wait())
            try:
                await asyncio.wait([send, echoed], return_when=asyncio.FIRST_COMPLETED)
            finally:
                echoed.cancel()
                self._sending = ""
            if not send.done():  # landed: its return comes when it comes
                self._late.add(send)
                send.add_done_callback(self._late.discard)
            self._arm()

    async def _send(self, state: str) -> None:
        attributes = {ATTR_STATE: state, ATTR_ACTIVE: self.session.agent.name}
        try:  # checked by ``_landed``, and sent again
            if self.server is not None and self._tries > OWN_TRIES:
                await self._through_api(attributes)
            else:
                await self.room.local_participant.set_attributes(attributes)
        except Exception as exc:  # noqa: BLE001 - a send that fails is sent again
            log.debug("agent state not sent", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def _through_api(self, attributes: dict[str, str]) -> None:
        assert self.server is not None
        log.info(
            "sending the agent's state through the server API",
            extra={"room": self.room.name, "tries": self._tries},
        )
        request = api.UpdateParticipantRequest(
            room=self.room.name,
            identity=self.room.local_participant.identity,
            attributes=attributes,
        )
        await call_api(self.server, lambda lk: lk.room.update_participant(request))

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        """The server's echo of an update, ours or someone else's: a state other than ours is
        checked again once any update of ours in flight has had time to land."""
        mine = participant.identity == self.room.local_participant.identity
        if not mine or ATTR_STATE not in changed:
            return
        if self._sending and changed[ATTR_STATE] == self._sending:
            self._echoed.set()
        if changed[ATTR_STATE] != self.state:
            self._arm()

    def _arm(self) -> None:
        if self._check is not None:
            self._check.cancel()
        wait = min(LONGEST, CHECK_AFTER * BACKOFF ** max(0, self._tries - 1))
        self._check = asyncio.get_running_loop().call_later(wait, self._landed)

    def _landed(self) -> None:
        self._check = None
        state = self.state
        if self._wanted.is_set() or self.session.closed or not self.room.isconnected():
            return  # a newer state is on its way, or the call is over
        if self.room.local_participant.attributes.get(ATTR_STATE) == state:
            log.debug("agent state landed", extra={"state": state})
            return
        if self._tries >= TRIES:
            log.warning(
                "the agent's state never reached the room",
                extra={"state": state, "room": self.room.name, "tries": self._tries},
            )
            return
        log.info(
            "the agent's state did not reach the room, sent again",
            extra={"state": state, "room": self.room.name, "tries": self._tries},
        )
        self.set(state)
