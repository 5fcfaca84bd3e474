"""``turn:``: when the user's turn ends, what may interrupt the agent, and how long the agent may
stay silent. Presets hold the numbers; fields given beside a preset win over it.

Today's top-level fields still work: ``min_endpointing_delay`` is ``turn.min_delay`` and
``allow_interruptions`` is ``turn.interruption.enabled``; giving both of a pair is an error.
With no ``turn:`` section an agent keeps the behaviour it had before the section existed
(``LEGACY``: the user's speech interrupts at once, no backchannel filter).

``echo_cancellation`` and ``noise_suppression`` (on unless turned off, with or without ``turn:``)
clean the microphone of a room session before the VAD hears it (``worker/echo_guard.py``): the
agent's own voice coming back through the user's microphone must not interrupt it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from livekitex_cli.config.schema import AgentSpec

T = TypeVar("T")
Preset = Literal["snappy", "balanced", "patient"]
Detection = Literal["auto", "vad", "stt", "model", "text"]
BACKCHANNELS = ("mhm", "mm-hmm", "uh-huh", "yeah", "okay", "ok", "right", "yes", "sure", "hmm",
                "ah", "oh", "er")  # fmt: skip
# seconds of silence from which a pause is judged, by detection: from 0.05 s ``text`` ended
# true turns ~0.1 s sooner than from 0.15 s, no more of them too early, for 13 % more STT calls;
# ``stt`` and ``model`` ended more paused sentences too early (snappy: 45 and 38 of 54, against
# 38 and 32), so they keep 0.15 s (BENCHMARKS.md)
JUDGE_DELAY: dict[str, float] = {"text": 0.05}
JUDGE_DELAY_OTHERS = 0.15


class InterruptionSection(BaseModel):
    """``turn.interruption``: what the user must say, while the agent speaks, to stop it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    min_duration: float | None = Field(default=None, ge=0.0, le=10.0)  # seconds of speech
    min_words: int | None = Field(default=None, ge=0, le=20)  # >0: transcribe before deciding
    backchannels: list[str] | None = None  # words that never interrupt (mhm, uh-huh, ...)
    resume_after_false_interruption: bool | None = None
    false_interruption_timeout: float | None = Field(default=None, gt=0.0, le=10.0)
    pause_on_speech: bool | None = None  # hold the agent's audio while its speech is judged


class TurnSection(BaseModel):
    """``turn:`` as written in YAML; ``None`` means "the preset's value"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset = "balanced"
    detection: Detection | None = None
    min_delay: float | None = Field(default=None, ge=0.0, le=10.0)
    max_delay: float | None = Field(default=None, ge=0.0, le=30.0)
    # the end-of-turn model's probability from which a pause ends the turn (text 0.02, model 0.5)
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    # from this probability a judged pause ends the turn at once, not after min_delay (text
    # 0.1; patient, and Smart Turn: never)
    sure_threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    # seconds of silence from which a pause is judged (stt, model, text): sooner ends a turn
    # sooner, and asks the STT more often
    judge_delay: float | None = Field(default=None, ge=0.0, le=10.0)
    interruption: InterruptionSection = Field(default_factory=InterruptionSection)
    stall_timeout: float | None = Field(default=None, gt=0.0, le=300.0)
    echo_cancellation: bool = True  # the agent's voice taken out of the user's microphone
    noise_suppression: bool = True  # steady noise and rumble (a high-pass filter) taken out


@dataclass(frozen=True)
class Interruption:
    enabled: bool
    min_duration: float
    min_words: int
    backchannels: tuple[str, ...]
    resume_after_false_interruption: bool
    false_interruption_timeout: float
    pause_on_speech: bool = False

    @property
    def needs_words(self) -> bool:
        """Whether overlapping speech is transcribed before it may interrupt."""
        return self.min_words > 0 or bool(self.backchannels)


@dataclass(frozen=True)
class TurnSettings:
    """The resolved numbers a session uses."""

    preset: str
    detection: Detection
    min_delay: float
    max_delay: float
    interruption: Interruption
    stall_timeout: float
    echo_cancellation: bool = True
    noise_suppression: bool = True
    threshold: float | None = None  # None: the detection model's own
    sure_threshold: float | None = None  # None: the detection model's own; 1: never early
    judge_delay: float | None = None  # silence from which a pause is judged (None: by detection)

    @property
    def endpointing_delay(self) -> float:
        """Silence after which the VAD alone ends a turn: ``min_delay``, or with another
        signal deciding in between (``detection: stt``), ``max_delay``."""
        return self.min_delay if self.detection == "vad" else self.max_delay

    @property
    def pause_judged_after(self) -> float:
        """Seconds of silence from which a pause is judged (``stt``, ``model``, ``text``): by
        ``min_delay`` at the latest."""
        judge = self.judge_delay
        if judge is None:
            judge = JUDGE_DELAY.get(self.detection, JUDGE_DELAY_OTHERS)
        return min(self.min_delay, judge)

    def detected_by(self, *, text_possible: bool) -> TurnSettings:
        """``detection: auto`` made concrete: ``text`` where the session has an STT and the text
        end-of-turn model is installed (``text_possible``), else ``vad``."""
        if self.detection != "auto":
            return self
        from dataclasses import replace

        return replace(self, detection="text" if text_possible else "vad")


def _preset(
    name: str,
    min_delay: float,
    max_delay: float,
    min_duration: float,
    min_words: int,
    new: bool,
    sure: float | None = None,
) -> TurnSettings:
    """``new``: backchannels filtered, a false interruption resumes, the agent's audio paused
    while overlapping speech is judged (not so in ``LEGACY``, where speech stops it at once)."""
    return TurnSettings(
        name,
        "auto" if new else "vad",
        min_delay,
        max_delay,
        Interruption(True, min_duration, min_words, BACKCHANNELS if new else (), new, 1.5, new),
        8.0,
        sure_threshold=sure,
    )


PRESETS: dict[str, TurnSettings] = {
    "snappy": _preset("snappy", 0.3, 1.5, 0.2, 0, True),
    "balanced": _preset("balanced", 0.6, 3.0, 0.3, 0, True),
    "patient": _preset("patient", 1.2, 6.0, 0.5, 1, True, sure=1.0),  # waits out every pause
}
LEGACY = _preset("legacy", 0.5, 3.0, 0.0, 0, False)


def conflicts(spec: AgentSpec) -> str | None:
    """The message for a top-level field given together with its ``turn:`` twin, if any."""
    turn, given = spec.turn, spec.model_fields_set
    if turn is None:
        return None
    if "min_endpointing_delay" in given and turn.min_delay is not None:
        return "min_endpointing_delay and turn.min_delay both set: keep only turn.min_delay"
    if "allow_interruptions" in given and turn.interruption.enabled is not None:
        return (
            "allow_interruptions and turn.interruption.enabled both set: keep only "
            "turn.interruption.enabled"
        )
    return None


def resolve(spec: AgentSpec) -> TurnSettings:
    """The preset (or ``LEGACY`` without ``turn:``), the legacy fields, then ``turn:``'s own."""
    turn, given = spec.turn, spec.model_fields_set
    base = LEGACY if turn is None else PRESETS[turn.preset]
    section = turn or TurnSection()
    cut = section.interruption
    min_delay = section.min_delay
    if min_delay is None and (turn is None or "min_endpointing_delay" in given):
        min_delay = spec.min_endpointing_delay
    enabled = cut.enabled
    if enabled is None and (turn is None or "allow_interruptions" in given):
        enabled = spec.allow_interruptions
    interruption = Interruption(
        enabled=base.interruption.enabled if enabled is None else enabled,
        min_duration=_pick(cut.min_duration, base.interruption.min_duration),
        min_words=_pick(cut.min_words, base.interruption.min_words),
        backchannels=(
            base.interruption.backchannels
            if cut.backchannels is None
            else tuple(word.strip().lower() for word in cut.backchannels if word.strip())
        ),
        resume_after_false_interruption=_pick(
            cut.resume_after_false_interruption, base.interruption.resume_after_false_interruption
        ),
        false_interruption_timeout=_pick(
            cut.false_interruption_timeout, base.interruption.false_interruption_timeout
        ),
        pause_on_speech=_pick(cut.pause_on_speech, base.interruption.pause_on_speech),
    )
    resolved_min = _pick(min_delay, base.min_delay)
    return TurnSettings(
        preset=base.preset,
        detection=_pick(section.detection, base.detection),
        min_delay=resolved_min,
        max_delay=max(resolved_min, _pick(section.max_delay, base.max_delay)),
        interruption=interruption,
        stall_timeout=_pick(section.stall_timeout, base.stall_timeout),
        echo_cancellation=section.echo_cancellation,
        noise_suppression=section.noise_suppression,
        threshold=section.threshold,
        sure_threshold=_pick(section.sure_threshold, base.sure_threshold),
        judge_delay=_pick(section.judge_delay, base.judge_delay),
    )


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value
