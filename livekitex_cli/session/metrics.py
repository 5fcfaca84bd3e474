"""Session figures: the contract's counters plus per-stage latencies of every turn."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

STAGES = (
    "vad_end_of_speech_delay_ms",
    "stt_duration_ms",
    "llm_ttft_ms",
    "llm_tokens_per_second",
    "tts_ttfb_ms",
    "response_time_ms",
)


@dataclass
class TurnMetrics:
    """One turn's figures; a stage the turn did not use stays ``None``."""

    turn_id: str
    source: str
    vad_end_of_speech_delay_ms: float | None = None
    stt_duration_ms: float | None = None
    llm_ttft_ms: float | None = None
    llm_tokens_per_second: float | None = None
    tts_ttfb_ms: float | None = None
    response_time_ms: float | None = None
    tool_calls: int = 0
    interrupted: bool = False
    error: bool = False
    stalled: bool = False  # ended by the stall watchdog
    empty_completions: int = 0  # LLM answers with nothing in them
    resumed: bool = False  # said again after a false interruption

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SessionMetrics:
    started: float = field(default_factory=time.monotonic)
    messages_processed: int = 0
    audio_segments_processed: int = 0
    tool_calls_executed: int = 0
    tool_errors: int = 0
    errors: int = 0
    interruptions: int = 0
    stalls: int = 0  # replies ended by the stall watchdog
    empty_completions: int = 0  # LLM answers with no text and no tool call
    false_interruptions: int = 0  # the agent stopped for speech that held no words
    chat_dropped: int = 0  # typed messages dropped by a front end's bound (a flood)
    chat_truncated: int = 0  # typed messages cut to the longest a turn takes
    pauses_held: int = 0  # pauses judged unfinished (``detection: stt``, ``model``, ``text``)
    turns: list[TurnMetrics] = field(default_factory=list)
    errors_by_service: dict[str, int] = field(default_factory=dict)
    keep_turns: int = 500  # per-stage figures (median, p95) cover the last ``keep_turns`` turns
    responses_total_ms: float = 0.0
    responses_count: int = 0

    def record(self, turn: TurnMetrics) -> None:
        self.turns.append(turn)
        if turn.response_time_ms is not None:
            self.responses_total_ms += turn.response_time_ms
            self.responses_count += 1
        if len(self.turns) > self.keep_turns:
            del self.turns[: len(self.turns) - self.keep_turns]

    def count_error(self, service: str) -> None:
        self.errors += 1
        self.errors_by_service[service] = self.errors_by_service.get(service, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """The contract's fields, plus ``stages``: median, p95 and last of each stage."""
        stages: dict[str, dict[str, float]] = {}
        for stage in STAGES:
            values = [v for t in self.turns if (v := getattr(t, stage)) is not None]
            if values:
                stages[stage] = {
                    "count": len(values),
                    "median": statistics.median(values),
                    "p95": _percentile(values, 95),
                    "last": values[-1],
                }
        return {
            "messages_processed": self.messages_processed,
            "audio_segments_processed": self.audio_segments_processed,
            "tool_calls_executed": self.tool_calls_executed,
            "average_response_time_ms": (
                self.responses_total_ms / self.responses_count if self.responses_count else 0.0
            ),  # over every turn of the session
            "stages_window_turns": self.keep_turns,
            "uptime_seconds": int(time.monotonic() - self.started),
            "tool_errors": self.tool_errors,
            "errors": self.errors,
            "errors_by_service": dict(self.errors_by_service),
            "interruptions": self.interruptions,
            "stalls": self.stalls,
            "empty_completions": self.empty_completions,
            "false_interruptions": self.false_interruptions,
            "chat_dropped": self.chat_dropped,
            "chat_truncated": self.chat_truncated,
            "pauses_held": self.pauses_held,
            "stages": stages,
        }


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
