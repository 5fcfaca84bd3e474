"""``turn.detection: stt``: the words decide when the user is done. After ``min_delay`` of
silence the speech so far is transcribed; a transcript that ends a sentence (``.``, ``?``,
``!``) ends the turn there, anything else keeps listening, up to ``max_delay`` of silence,
where the VAD ends the turn anyway. The transcript is reused for the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger

if TYPE_CHECKING:
    from livekitex_cli.providers.audio import AudioChunk
    from livekitex_cli.session.session import AgentSession

log = get_logger("session")
SENTENCE_END = (".", "?", "!", "…")


def ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip("\"')]").endswith(SENTENCE_END)


class SttEndpointing:
    def __init__(self, session: AgentSession) -> None:
        self.session = session
        self._judged: float | None = None  # the pause (by its last speech frame) judged last
        self._busy = False

    def heard(self) -> None:
        """After each piece of audio: is this pause long enough to ask the transcript?"""
        activity = self.session.activity
        detector, turn = activity.detector, activity.turn
        if turn.detection != "stt" or detector is None or activity.stt is None or self._busy:
            return
        if not detector.in_speech or detector.silence < turn.min_delay:
            return
        if self._judged == detector.last_speech_at:
            return
        self._judged = detector.last_speech_at
        self._busy = True
        audio = detector.current_speech()
        self.session.spawn(self._judge(detector.last_speech_at, audio), "stt-endpointing")

    async def _judge(self, mark: float, audio: AudioChunk) -> None:
        session = self.session
        activity = session.activity
        text = ""
        try:
            if activity.stt is not None:
                text = (await activity.stt.transcribe(audio)).text.strip()
        except LkxError as exc:
            log.info("end-of-turn transcription failed", extra={"error": str(exc)})
        finally:
            self._busy = False
        detector, trace = activity.detector, session.turns.trace
        if detector is None or not detector.in_speech or detector.last_speech_at != mark:
            return  # the user spoke again (or the VAD ended the turn meanwhile)
        if not ends_sentence(text):
            trace.step("keep_listening", f"{text!r} does not end a sentence (stt)")
            return
        silence = detector.silence
        event = detector.end_now()
        if event is None:
            return
        trace.step("sentence_end", f"{text!r} after {silence:.2f} s of silence (stt)")
        if not session.turns.speech_ended(event):
            session.answer_utterance(event, text)
