"""A session in a LiveKit room: microphone in, agent voice out, ``lk.chat`` in and out,
transcriptions on ``lk.transcription``, and the agent's state as ``lk.agent.state``.

What front ends read follows LiveKit's own agents: a transcription is a text stream sent under
the identity of the participant it transcribes (the user's words under the user's identity),
with ``lk.segment_id`` (one per speaker and turn), ``lk.transcribed_track_id`` (the track the
words were heard on or spoken into) and ``lk.transcription_final``, ``"true"`` when the
segment is complete (an agent's streamed reply says so when its stream closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livekit import rtc

from livekitex_cli.log import get_logger
from livekitex_cli.session import (
    AgentHandoff,
    AgentReply,
    AgentSession,
    AgentTextDelta,
    SessionEvent,
    StateChanged,
    UserTranscript,
)
from livekitex_cli.tasks import TaskSet
from livekitex_cli.worker.agent_state import AgentState
from livekitex_cli.worker.chat_input import ChatInbox
from livekitex_cli.worker.event_routing import route_room_events
from livekitex_cli.worker.joining import connect_room, hide_tokens_in_library_logs, join_error
from livekitex_cli.worker.room_output import (
    ATTR_FINAL,
    ATTR_SEGMENT,
    ATTR_TRACK,
    INPUT_FRAME_MS,
    INPUT_RATE,
    OUTPUT_RATE,
    TOPIC_CHAT,
    TOPIC_TRANSCRIPTION,
    EchoGuard,
    quiet_library_noise,
    segment_id,
    voice_output,
)

log = get_logger("worker")
# a user who hung up (or was removed, or refused a call), or a room deleted, ends the job; any
# other leave is a drop they may come back from (as LiveKit's own agents decide)
FINAL_LEAVES = frozenset(
    {
        rtc.DisconnectReason.CLIENT_INITIATED,
        rtc.DisconnectReason.ROOM_DELETED,
        rtc.DisconnectReason.USER_REJECTED,
        rtc.DisconnectReason.PARTICIPANT_REMOVED,
    }
)
__all__ = ["OUTPUT_RATE", "RoomIO", "connect_to_room"]


class RoomIO:
    """Wires one ``AgentSession`` to one connected ``rtc.Room``."""

    def __init__(
        self,
        *,
        room: rtc.Room,
        session: AgentSession,
        linked_identity: str | None = None,
        close_on_leave: bool = True,
    ) -> None:
        self.room = room
        self.session = session
        self.linked_identity = linked_identity
        self.close_on_leave = close_on_leave
        self.ended = asyncio.Event()
        self._tasks = TaskSet("lkx-room", log, level=logging.WARNING)
        self._writer: Any = None
        self._writer_turn = ""
        self._mic_track_sid = ""
        self._mic_identity = ""
        self._voice_track_sid = ""
        self._outbox: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._listening = False
        self._pumped: set[str] = set()
        self.state = AgentState(room, session)  # ``lk.agent.state``, sent on its own
        self.chat = ChatInbox(session, room=room, spawn=self._spawn)
        self.echo_guard: EchoGuard | None = None  # cleans the microphone (``voice_output``)

    def listen(self) -> None:
        """Register the room handlers; call before ``room.connect``: ``livekit.rtc`` drops a
        text stream that arrives while its topic has no handler."""
        room = self.room
        room.register_text_stream_handler(TOPIC_CHAT, self._on_chat)
        room.on("track_subscribed", self._on_track)
        room.on("participant_connected", self._on_participant)
        room.on("participant_disconnected", self._on_left)
        room.on("disconnected", lambda *_: self.ended.set())
        self.session.on("*", self._on_event)
        self._listening = True

    async def start(self, source: rtc.AudioSource | None) -> None:
        """Once connected: publish the agent's voice, start sending, take who is already in."""
        room = self.room
        if not self._listening:
            self.listen()
        route_room_events(room)
        self._spawn(self._send_loop(), "send")
        self._spawn(self.state.run(), "state")
        if source is not None:
            track = rtc.LocalAudioTrack.create_audio_track("agent-voice", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            published = await room.local_participant.publish_track(track, options)
            self._voice_track_sid = published.sid
        for participant in room.remote_participants.values():
            self._on_participant(participant)
            for publication in participant.track_publications.values():
                if publication.track is not None and publication.subscribed:
                    self._on_track(publication.track, publication, participant)

    def is_user(self, participant: rtc.RemoteParticipant) -> bool:
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            return False
        return self.linked_identity is None or participant.identity == self.linked_identity

    def _on_participant(self, participant: rtc.RemoteParticipant) -> None:
        if self.linked_identity is None and self.is_user(participant):
            self.linked_identity = participant.identity
            log.info("linked participant", extra={"identity": participant.identity})

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity != self.linked_identity or not self.close_on_leave:
            return
        reason = participant.disconnect_reason
        named = rtc.DisconnectReason.Name(reason) if reason is not None else "unknown"
        extra = {"identity": participant.identity, "reason": named}
        if reason in FINAL_LEAVES:
            log.info("linked participant left, ending the job", extra=extra)
            self.ended.set()
            return
        # dropped, not gone: the user may come back (a resumed connection, a reloaded page);
        # the call ends when they do not and the server closes the room
        log.info("linked participant dropped, waiting for them to come back", extra=extra)

    def _on_track(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO or not self.is_user(participant):
            return
        if self.linked_identity is None:
            self.linked_identity = participant.identity
        if self.session.vad is None or publication.sid in self._pumped:
            return  # an agent without STT does not listen; a track is heard once
        self._pumped.add(publication.sid)
        self._mic_track_sid = publication.sid
        self._mic_identity = participant.identity
        log.info("listening to microphone", extra={"identity": participant.identity})
        self._spawn(self._pump_audio(track), "mic")

    async def _pump_audio(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream.from_track(
            track=track, sample_rate=INPUT_RATE, num_channels=1, frame_size_ms=INPUT_FRAME_MS
        )
        try:
            async for event in stream:
                if self.session.closed:
                    break  # the call is over: the session takes no more audio
                frame, guard = event.frame, self.echo_guard
                data = bytes(frame.data) if guard is None else guard.process(bytes(frame.data))
                await self.session.process_audio(
                    data, sample_rate=frame.sample_rate, channels=frame.num_channels
                )
        finally:
            await stream.aclose()

    def _on_chat(self, reader: rtc.TextStreamReader, sender: str) -> None:
        if self.linked_identity is not None and sender != self.linked_identity:
            reader.close()  # unread, it would stay subscribed to every native event
            return
        self._spawn(self.chat.read(reader), "chat")

    def _on_event(self, event: SessionEvent) -> None:
        """Session events to the room: text in order, through one sender task (``_send_loop``);
        the state through its own (``AgentState``)."""
        if isinstance(event, StateChanged | AgentHandoff):
            self.state.set(event.new if isinstance(event, StateChanged) else self.state.state)
        elif isinstance(event, AgentTextDelta):
            self._outbox.put_nowait(lambda: self._stream_transcript(event.turn_id, event.text))
        elif isinstance(event, AgentReply):
            self._outbox.put_nowait(lambda: self._finish_reply(event))
        elif isinstance(event, UserTranscript):
            self._outbox.put_nowait(lambda: self._user_transcript(event))

    async def _send_loop(self) -> None:
        while True:
            send = await self._outbox.get()
            try:
                await send()
            except Exception as exc:  # noqa: BLE001 - a failed send must not end the job
                log.warning("sending to the room failed", extra={"error": str(exc)})

    async def _user_transcript(self, event: UserTranscript) -> None:
        """The user's words, sent as the user: LiveKit's convention for a transcription."""
        attributes = {
            ATTR_FINAL: "true" if event.final else "false",
            ATTR_SEGMENT: segment_id(event.turn_id, "user"),
        }
        if self._mic_track_sid:
            attributes[ATTR_TRACK] = self._mic_track_sid
        await self._send(
            event.text, TOPIC_TRANSCRIPTION, attributes, sender=self._mic_identity or None
        )

    def _agent_attributes(self, turn_id: str, *, final: bool) -> dict[str, str]:
        attributes = {ATTR_SEGMENT: segment_id(turn_id, "agent"), ATTR_FINAL: str(final).lower()}
        if self._voice_track_sid:
            attributes[ATTR_TRACK] = self._voice_track_sid
        return attributes

    async def _stream_transcript(self, turn_id: str, text: str) -> None:
        if self._writer is None or self._writer_turn != turn_id:
            await self._close_writer()
            self._writer_turn = turn_id
            self._writer = await self.room.local_participant.stream_text(
                topic=TOPIC_TRANSCRIPTION, attributes=self._agent_attributes(turn_id, final=False)
            )
        await self._writer.write(text)

    async def _close_writer(self) -> None:
        """End the agent's segment; its closing attributes mark it final."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            final = self._agent_attributes(self._writer_turn, final=True)
            with contextlib.suppress(Exception):
                await writer.aclose(attributes=final)

    async def _finish_reply(self, event: AgentReply) -> None:
        await self._close_writer()
        # typed questions get typed answers; a text-only agent answers everything in chat
        if event.text and (event.source == "text" or self.session.tts is None):
            await self._send(event.text, TOPIC_CHAT, {})

    async def _send(
        self, text: str, topic: str, attributes: dict[str, str], *, sender: str | None = None
    ) -> None:
        """One whole text; ``sender`` sends it under another identity (a transcription)."""
        local = self.room.local_participant
        try:
            if sender is None:
                await local.send_text(text, topic=topic, attributes=attributes)
            else:
                writer = await local.stream_text(
                    topic=topic, attributes=attributes, sender_identity=sender
                )
                await writer.write(text)
                await writer.aclose()
            log.debug(
                "text sent", extra={"room": self.room.name, "topic": topic, "chars": len(text)}
            )
        except Exception as exc:  # noqa: BLE001 - a failed send must not end the job
            log.warning("sending text failed", extra={"topic": topic, "error": str(exc)})

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.spawn(coro, name)

    async def aclose(self) -> None:
        self.state.close()
        await self._close_writer()
        await self._tasks.aclose()

    async def close_room(self) -> None:
        """Stop the I/O tasks and leave the room."""
        await self.aclose()
        await self.room.disconnect()


async def connect_to_room(
    session: AgentSession,
    url: str,
    token: str,
    *,
    linked_identity: str | None = None,
    close_on_leave: bool = True,
    timeout: float = 20.0,
) -> RoomIO:
    """The contract's ``connect_to_room``: join with ``token`` and wire ``session`` in.

    Returns the ``RoomIO``; wait on ``io.ended`` and then ``await io.close_room()``.
    """
    quiet_library_noise()
    hide_tokens_in_library_logs()
    room = rtc.Room()
    source, guard = voice_output(session)
    io = RoomIO(
        room=room, session=session, linked_identity=linked_identity, close_on_leave=close_on_leave
    )
    io.echo_guard = guard
    io.listen()
    try:
        await connect_room(room, url, token, timeout=timeout)
    except (TimeoutError, rtc.ConnectError) as exc:
        raise join_error(url, exc, timeout) from None
    await io.start(source)
    return io
