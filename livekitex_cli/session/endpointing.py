"""Another signal than silence decides when the user is done, after ``min_delay`` of silence;
otherwise the VAD keeps listening up to ``max_delay`` of silence and ends the turn then. The
pause is judged from ``judge_delay`` of silence on (text 0.05 s, else 0.15), so the STT's time
overlaps ``min_delay``; a turn judged complete ends once ``min_delay`` has passed (at once, if it
has), and speech before then voids the judgement. A judgement sure beyond doubt (the model's
probability at ``sure_threshold`` or more: text 0.1) ends the turn at once, without waiting for
``min_delay``.

- ``detection: stt``: the speech so far is transcribed; a transcript that ends a sentence
  (``.``, ``?``, ``!``) ends the turn, and is reused for the answer.
- ``detection: model``: Smart Turn v3.2, an audio end-of-turn model (``providers/local/
  smart_turn.py``), gives the probability that the turn is complete; above 0.5 it ends.
- ``detection: text``: the speech so far is transcribed and a small language model
  (``providers/local/text_turn.py``) reads the words, with the agent's last line, for how likely
  they are a whole turn; at 0.02 or more it ends, and the transcript is reused for the answer.
  The model reads English: a transcript in another language ends the turn at ``min_delay``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger

if TYPE_CHECKING:
    from livekitex_cli.config.turn import TurnSettings
    from livekitex_cli.providers.audio import AudioChunk
    from livekitex_cli.session.session import AgentSession

log = get_logger("session")
SENTENCE_END = (".", "?", "!", "…")
NUMBER_WORDS = frozenset(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand double triple".split()
)


def english(language: str | None) -> bool:
    """The text model reads English; an STT that names no language is taken to hear it."""
    return not language or language.lower().startswith("en")


def text_detection_possible(language: str | None) -> bool:
    """Whether ``detection: auto`` is ``text`` for an STT set to ``language``: English (or no
    language set), and the text end-of-turn model installed."""
    from livekitex_cli.errors import ResourceError
    from livekitex_cli.providers.local import check_turn_model

    if not english(language):
        return False
    try:
        check_turn_model("text")
    except ResourceError:
        return False
    return True


def ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip("\"')]").endswith(SENTENCE_END)


def ends_in_a_number(text: str) -> bool:
    """Whether the last word is a number (``555``, ``five``): phone numbers, codes and
    addresses are read in groups with pauses between them, so such words are never sure to
    end a turn (the text model gives "my number is 555" 0.19)."""
    words = text.lower().replace("-", " ").split()
    last = words[-1].strip(".,!?;:\"')") if words else ""
    return any(c.isdigit() for c in last) or last in NUMBER_WORDS


class SttEndpointing:
    def __init__(self, session: AgentSession) -> None:
        self.session = session
        self._model: Any = None
        self._model_for: TurnSettings | None = None  # the settings ``_model`` serves
        self._loading: asyncio.Task[None] | None = None  # ``_model``'s loading
        self._judged: float | None = None  # the pause (by its last speech frame) judged last
        self._busy = False
        # complete, waiting for min_delay (or, sure, not waiting): mark, words, why, sure
        self._ready: tuple[float, str, str, bool] | None = None
        self.decided = asyncio.Event()  # clear while a pause is being judged
        self.decided.set()

    def _model_of(self, turn: TurnSettings) -> Any:
        """The end-of-turn model for ``turn`` (made anew after a handoff), loading in the
        background from when it is made: not at the first pause."""
        if self._model_for is not turn:
            self._model = _model(turn.detection, turn.threshold, turn.sure_threshold)
            self._model_for = turn
            self._loading = self.session.spawn(self._model.load(), f"{turn.detection}-turn-load")
        return self._model

    async def load(self) -> None:
        """Load the end-of-turn model now, if the turn settings use one."""
        turn = self.session.activity.turn
        if turn.detection not in ("model", "text"):
            return
        self._model_of(turn)
        assert self._loading is not None  # started with the model
        try:
            await asyncio.shield(self._loading)
        except LkxError as exc:  # a pause meets it again: then silence decides, and it is logged
            log.debug("end-of-turn model not loaded", extra={"reason": str(exc)})

    def heard(self) -> None:
        """After each piece of audio: is this pause long enough to ask the transcript?"""
        activity = self.session.activity
        detector, turn = activity.detector, activity.turn
        if turn.detection == "vad" or detector is None:
            return
        if self._ready is not None:
            self._end_when_due()
        if self._busy:
            return
        if turn.detection in ("model", "text"):
            self._model_of(turn)
        if turn.detection in ("stt", "text") and activity.stt is None:
            return
        if not detector.in_speech or detector.silence < turn.pause_judged_after:
            return
        if self._judged == detector.last_speech_at:
            return
        self._judged = detector.last_speech_at
        self._busy = True
        self.decided.clear()
        audio = detector.current_speech()
        self.session.spawn(self._judge(detector.last_speech_at, audio), "stt-endpointing")

    async def _judge(self, mark: float, audio: AudioChunk) -> None:
        try:
            await self._decide(mark, audio)
        finally:
            self.decided.set()  # after the turn, if it ended, was queued (``wait_idle``)

    async def _decide(self, mark: float, audio: AudioChunk) -> None:
        session = self.session
        activity = session.activity
        text, done, why, failed, sure = "", False, "", False, False
        try:
            if activity.turn.detection == "model":
                done, why, sure = await self._ask_model(audio)
            elif activity.stt is not None:
                heard = await activity.stt.transcribe(audio)
                text = heard.text.strip()
                if activity.turn.detection == "text" and not english(heard.language):
                    done, why = True, f"{text!r} in {heard.language}: silence decides (text)"
                elif activity.turn.detection == "text":
                    done, why, sure = await self._ask_text_model(text)
                else:
                    done, why = ends_sentence(text), f"{text!r} (stt)"
        except LkxError as exc:
            why = f"the signal failed ({exc}): silence decides, up to max_delay"
            failed = True
            log.info("end-of-turn signal failed", extra={"error": str(exc)})
        finally:
            self._busy = False
        detector, trace = activity.detector, session.turns.trace
        if detector is None or not detector.in_speech or detector.last_speech_at != mark:
            return  # the user spoke again (or the VAD ended the turn meanwhile)
        if not done:
            session.stats.pauses_held += not failed
            trace.step("keep_listening", f"not finished: {why}")
            return
        self._ready = (mark, text, why, sure)
        self._end_when_due()

    def _end_when_due(self) -> None:
        """End the turn judged complete once ``min_delay`` of silence has passed (at once if
        it was judged sure); forget the judgement if the user spoke again."""
        session, detector = self.session, self.session.activity.detector
        assert self._ready is not None
        mark, text, why, sure = self._ready
        if detector is None or not detector.in_speech or detector.last_speech_at != mark:
            self._ready = None
            return
        silence = detector.silence
        if silence < session.activity.turn.min_delay and not sure:
            return
        self._ready = None
        event = detector.end_now()
        if event is None:
            return
        why = f"{why}, sure" if sure else why
        session.turns.trace.step("turn_complete", f"{why} after {silence:.2f} s of silence")
        if not session.turns.speech_ended(event):
            session.answer_utterance(event, text)

    async def _ask_text_model(self, text: str) -> tuple[bool, str, bool]:
        """Whether the words are a whole turn, why, and whether beyond doubt."""
        if not text:
            return True, "no words (text)", False  # a noise: nothing to wait for
        previous = next(
            (t.content for t in reversed(self.session.history.turns) if t.role == "agent"), None
        )
        probability: float = await self._model.probability(text, previous)
        done = probability >= self._model.threshold
        why = f"p(complete)={probability:.3f} {text!r} (text)"
        return done, why, sure_end(probability, self._model.sure, text)

    async def _ask_model(self, audio: AudioChunk) -> tuple[bool, str, bool]:
        probability: float = await self._model.probability(audio)
        why = f"p(complete)={probability:.2f} (model)"
        return probability > self._model.threshold, why, sure_end(probability, self._model.sure)


def sure_end(probability: float, sure: float | None, text: str | None = None) -> bool:
    """Whether ``probability`` ends a pause at once, without waiting for ``min_delay``;
    ``text``: the words judged (none, or a number at their end, is never sure)."""
    if text is not None and (not text or ends_in_a_number(text)):
        return False
    return sure is not None and sure < 1.0 and probability >= sure


def _model(detection: str, threshold: float | None, sure: float | None) -> Any:
    """The end-of-turn model of ``detection`` (a handoff may change it), at ``threshold``;
    ``sure``: from where a pause ends at once (``None``: the model's own)."""
    given: dict[str, Any] = {} if threshold is None else {"threshold": threshold}
    if sure is not None:
        given["sure"] = sure
    if detection == "text":
        from livekitex_cli.providers.local.text_turn import TextTurn

        return TextTurn(**given)
    from livekitex_cli.providers.local.smart_turn import SmartTurn

    return SmartTurn(**given)
