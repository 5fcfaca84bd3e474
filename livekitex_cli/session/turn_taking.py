"""Interruptions, decided per state, so users don't have to fight the agent.

- ``thinking`` (no audio yet): the user's speech stops the reply at once; what they say next is
  answered with everything they said before.
- a tool is running: the tool finishes (its result is kept in the history, its side effects
  are not lost or repeated), then the reply ends without speaking.
- ``speaking``: speech must last ``interruption.min_duration`` seconds; when
  ``interruption.min_words`` > 0 or ``backchannels`` are set, the overlapping speech is
  transcribed first and only words that are not backchannels count (``mhm``, ``uh-huh``: the
  agent talks on, and that speech is not a turn).
- a false interruption: speech that stopped the agent and turned out to hold no words within
  ``false_interruption_timeout`` seconds: the agent says the rest of its reply (the history
  keeps what was played before and the rest as said after).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.session.audio_input import SpeechEnded, SpeechStarted
from livekitex_cli.session.endpointing import SttEndpointing
from livekitex_cli.session.events import UserSpeechStarted
from livekitex_cli.session.trace import TurnTrace
from livekitex_cli.session.watchdog import speak_out

if TYPE_CHECKING:
    from livekitex_cli.config.turn import Interruption
    from livekitex_cli.providers.audio import AudioChunk
    from livekitex_cli.session.reply import Reply
    from livekitex_cli.session.session import AgentSession

log = get_logger("session")
_WORD = re.compile(r"[\w'-]+")
_HUM = re.compile(r"^[mhu]+(?:-[mhu]+)*$")
RECHECK = 0.5  # seconds of more overlapping speech before transcribing it again


def words_that_count(text: str, backchannels: tuple[str, ...]) -> list[str]:
    """The words of ``text`` that are not backchannels (case and punctuation ignored). With
    any backchannels set, hums are backchannels too however the STT spells them (``mm-mm``,
    ``hmm``, ``uh-uh``, ``m-m-m``: only the letters m, h and u)."""
    ignored = set(backchannels)
    words = [w.strip("-'") for w in _WORD.findall(text.lower())]
    return [w for w in words if w and w not in ignored and not (ignored and _HUM.match(w))]


@dataclass
class Overlap:
    """User speech while the agent speaks, not yet judged."""

    reply: Reply
    started: float  # audio time of the speech start
    next_check: float = 0.0  # speech seconds at which to transcribe again
    judging: bool = False
    decided: bool = False


@dataclass
class Stopped:
    """The last interruption, kept to tell whether it was a false one."""

    reply: Reply
    speech_started: float
    rest: str
    at: float = field(default_factory=time.monotonic)


class TurnTaking:
    def __init__(self, session: AgentSession) -> None:
        self.session = session
        self.overlap: Overlap | None = None
        self.stopped: Stopped | None = None
        self.trace = TurnTrace(session)
        self.endpointing = SttEndpointing(session)

    @property
    def rules(self) -> Interruption:
        return self.session.activity.turn.interruption

    # audio events (called by the session) ---------------------------------------------------

    def speech_started(self, event: SpeechStarted) -> None:
        session = self.session
        session.emit(UserSpeechStarted())
        self.trace.speech_started(event.at)
        reply, rules = session.current_reply, self.rules
        if reply is None or not rules.enabled or reply.stopped:
            return
        if reply.source == "greeting" and session.state != "speaking":
            return
        if session.state != "speaking":
            self.interrupt(reply, event.at, f"user spoke while the agent was {session.state}")
        elif rules.min_duration <= 0 and not rules.needs_words:
            self.interrupt(reply, event.at, "user spoke")
        else:
            self.overlap = Overlap(reply, event.at, next_check=rules.min_duration)

    def heard(self) -> None:
        """After each piece of audio: has the overlapping speech earned an interruption? has
        the user's turn ended (``detection: stt``)?"""
        self.endpointing.heard()
        overlap, detector = self.overlap, self.session.activity.detector
        if overlap is None or overlap.decided or overlap.judging or detector is None:
            return
        if overlap.reply is not self.session.current_reply or not detector.in_speech:
            return
        spoken = detector.received - overlap.started
        if spoken < overlap.next_check:
            return
        if not self.rules.needs_words:
            self.interrupt(overlap.reply, overlap.started, f"speech lasted {spoken:.1f} s")
            overlap.decided = True
            return
        overlap.judging, overlap.next_check = True, spoken + RECHECK
        audio = detector.current_speech()
        self.session.spawn(self._judge(overlap, audio, final=None), "judge-overlap")

    def speech_ended(self, event: SpeechEnded) -> bool:
        """Whether the utterance is taken here (judged as overlap) instead of being a turn."""
        overlap, self.overlap = self.overlap, None
        self.trace.speech_ended(event)
        if overlap is None or overlap.decided:
            return False
        if overlap.reply is not self.session.current_reply or overlap.reply.stopped:
            return False  # the agent finished meanwhile: an ordinary turn
        overlap.decided = True
        self.session.spawn(self._judge(overlap, event.utterance, final=event), "judge-utterance")
        return True

    # decisions ------------------------------------------------------------------------------

    async def _judge(self, overlap: Overlap, audio: AudioChunk, final: SpeechEnded | None) -> None:
        session, stt = self.session, self.session.activity.stt
        text, failed = "", False
        try:
            if stt is not None:
                text = (await stt.transcribe(audio)).text.strip()
        except LkxError as exc:
            failed = True  # unknown words: the utterance is a turn, and its answer says why
            log.info("overlap transcription failed", extra={"error": str(exc)})
        finally:
            overlap.judging = False
        counted = words_that_count(text, self.rules.backchannels)
        enough = len(counted) >= max(1, self.rules.min_words)
        current = overlap.reply is session.current_reply and not overlap.reply.stopped
        if enough and current and (final is not None or not overlap.decided):
            overlap.decided = True
            self.interrupt(overlap.reply, overlap.started, f"{len(counted)} words: {text!r}")
        if final is None:
            return
        if enough or not current or failed:
            session.answer_utterance(final, text)  # a turn after all: answered as usual
        else:
            self.trace.decision("ignored", f"backchannel or too few words: {text!r}")
            log.debug("overlapping speech ignored", extra={"transcript": text})

    def interrupt(self, reply: Reply, speech_started: float, why: str) -> None:
        """Stop ``reply`` (a running tool first finishes; see the module's docstring)."""
        session = self.session
        heard_words = len(reply.final_text(interrupted=True).split())
        full = "".join(reply.streamed).split()
        self.stopped = Stopped(reply, speech_started, " ".join(full[heard_words:]))
        self.trace.decision("interrupted", f"{why} ({session.state})")
        if reply.tools_running:
            reply.stop()
            session.audio_output.clear()
            session.stats.interruptions += 1
        else:
            session.interrupt()

    async def resume(self, reply: Reply, event: SpeechEnded) -> bool:
        """Called when an utterance held no words: if it is what stopped the agent, and came
        within ``false_interruption_timeout``, say the rest of the stopped reply in ``reply``."""
        stopped, self.stopped = self.stopped, None
        rules = self.rules
        if stopped is None or not rules.resume_after_false_interruption or not stopped.rest:
            return False
        if event.speech_end - stopped.speech_started > rules.false_interruption_timeout:
            return False
        self.session.stats.false_interruptions += 1
        reply.turn.resumed = True
        self.trace.bind(reply.turn_id)
        self.trace.decision("resumed", "false interruption: the speech held no words")
        await reply.say(stopped.rest)
        fallback = self.session.agent.spec.fallback_line
        await speak_out(reply, self.session.activity.turn.stall_timeout, fallback)
        reply.finish(interrupted=reply.stopped)
        return True
