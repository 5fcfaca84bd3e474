"""What a session tells the world, as frozen dataclasses (callbacks and ``events()`` alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from livekitex_cli.providers.audio import AudioChunk

AgentState = Literal["initializing", "listening", "thinking", "speaking", "closed"]
InputSource = Literal["text", "audio", "greeting", "handoff"]


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: AgentState
    new: AgentState
    type: str = field(default="state_changed", init=False)


@dataclass(frozen=True, slots=True)
class UserSpeechStarted:
    """VAD heard the user start speaking."""

    type: str = field(default="user_speech_started", init=False)


@dataclass(frozen=True, slots=True)
class UserTranscript:
    text: str
    final: bool = True
    turn_id: str = ""
    type: str = field(default="user_transcript", init=False)


@dataclass(frozen=True, slots=True)
class AgentTextDelta:
    """A piece of the agent's reply as the LLM streams it."""

    turn_id: str
    text: str
    type: str = field(default="agent_text", init=False)


@dataclass(frozen=True, slots=True)
class AgentReply:
    """The agent's whole reply for one turn; ``text`` is what was actually said if interrupted."""

    turn_id: str
    text: str
    interrupted: bool = False
    source: InputSource = "text"
    type: str = field(default="agent_reply", init=False)


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """One frame of agent speech, emitted as it is played out."""

    turn_id: str
    frame: AudioChunk
    type: str = field(default="agent_audio", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    call_id: str
    name: str
    arguments: str
    type: str = field(default="tool_call_started", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    call_id: str
    name: str
    output: str
    error: str | None = None
    duration_ms: float = 0.0
    type: str = field(default="tool_call_finished", init=False)


@dataclass(frozen=True, slots=True)
class MetricsUpdated:
    """Figures of one finished turn (see ``TurnMetrics``)."""

    metrics: dict[str, Any]
    type: str = field(default="metrics", init=False)


@dataclass(frozen=True, slots=True)
class SessionError:
    """A failure the session survived (``recoverable``) or not."""

    message: str
    service: str = ""
    recoverable: bool = True
    reason: str = ""  # a name for the kind of failure, when it has one: "stalled", ...
    type: str = field(default="error", init=False)


@dataclass(frozen=True, slots=True)
class AgentHandoff:
    """The conversation moved from one agent to another (a transfer tool call)."""

    from_agent: str
    to_agent: str
    reason: str = ""
    type: str = field(default="agent_handoff", init=False)


@dataclass(frozen=True, slots=True)
class TurnTimeline:
    """One spoken user turn: its steps (``at_ms`` from the speech start, ``step``, ``detail``:
    speech_start, end_of_turn, stt_final, llm_first_token, tts_first_audio, interrupted,
    ignored, resumed, reply_end) and why the timeline closed."""

    turn_id: str
    steps: tuple[dict[str, Any], ...]
    closed: str = ""
    type: str = field(default="turn", init=False)


SessionEvent = (
    StateChanged
    | UserSpeechStarted
    | UserTranscript
    | AgentTextDelta
    | AgentReply
    | AgentAudio
    | ToolCallStarted
    | ToolCallFinished
    | MetricsUpdated
    | SessionError
    | TurnTimeline
    | AgentHandoff
)
