"""One ``turn`` event per spoken user turn: its timeline, in milliseconds from the user's speech
start, with every turn-taking decision and why (end of turn, interruption, backchannel
ignored, resumed after a false interruption), the STT final, the LLM's first token and the
first TTS audio. Logged at debug; ``lkx console --trace-turns`` prints it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from livekitex_cli.log import get_logger
from livekitex_cli.session.events import TurnTimeline

if TYPE_CHECKING:
    from livekitex_cli.session.audio_input import SpeechEnded
    from livekitex_cli.session.session import AgentSession

log = get_logger("session")


class TurnTrace:
    def __init__(self, session: AgentSession) -> None:
        self.session = session
        self._steps: list[tuple[float, str, str]] = []
        self._start = 0.0
        self._reply_id = ""
        self._seen: set[str] = set()
        self._open = False
        for kind in ("user_transcript", "agent_text", "agent_audio", "agent_reply"):
            session.on(kind, self._on_event)

    def speech_started(self, at: float) -> None:
        if self._open and not self._reply_id:
            self.step("speech_start", f"more speech at {at:.2f} s of audio")
            return
        self.close("new speech")
        self._open, self._start, self._reply_id = True, time.perf_counter(), ""
        self._seen = set()
        self.step("speech_start", f"at {at:.2f} s of audio")

    def speech_ended(self, event: SpeechEnded) -> None:
        turn = self.session.activity.turn
        silence = f"{event.detection_delay:.2f} s of silence"
        if self._steps and self._steps[-1][1] == "turn_complete":
            why = f"{silence}, judged complete ({turn.detection})"
        elif event.detection_delay + 1e-6 >= turn.endpointing_delay:
            limit = "min_delay" if turn.detection == "vad" else "max_delay"
            why = f"{silence} >= {limit} {turn.endpointing_delay:g} s ({turn.detection})"
        else:
            why = f"{silence}, then the audio ended"
        self.step("end_of_turn", why)

    def decision(self, kind: str, why: str) -> None:
        self.step(kind, why)
        if kind == "ignored" and not self._reply_id:
            self.close(kind)

    def bind(self, turn_id: str) -> None:
        """The reply that answers this user turn."""
        self._reply_id = turn_id

    def step(self, name: str, detail: str = "") -> None:
        if self._open:
            self._steps.append(((time.perf_counter() - self._start) * 1000, name, detail))

    def close(self, why: str) -> None:
        if not self._open:
            return
        self._open = False
        steps = [{"at_ms": round(at, 1), "step": name, "detail": detail}
                 for at, name, detail in self._steps]  # fmt: skip
        self._steps = []
        event = TurnTimeline(self._reply_id, tuple(steps), why)
        log.debug("turn", extra={"turn_id": event.turn_id, "steps": steps, "closed": why})
        self.session.emit(event)

    def _on_event(self, event: Any) -> None:
        if not self._open:
            return
        if event.type == "user_transcript" and event.final and not self._reply_id:
            self.bind(event.turn_id)
            self.step("stt_final", repr(event.text))
        elif getattr(event, "turn_id", None) != self._reply_id or not self._reply_id:
            return
        elif event.type in ("agent_text", "agent_audio") and event.type not in self._seen:
            self._seen.add(event.type)
            self.step("llm_first_token" if event.type == "agent_text" else "tts_first_audio")
        elif event.type == "agent_reply":
            self.step("reply_end", "interrupted" if event.interrupted else "complete")
            self.close("reply ended")
