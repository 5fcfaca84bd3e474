"""The agent session: the streaming VAD -> STT -> LLM (with tools) -> TTS pipeline."""

from livekitex_cli.session.chat import ChatHistory, ConversationTurn
from livekitex_cli.session.events import (
    AgentAudio,
    AgentHandoff,
    AgentReply,
    AgentState,
    AgentTextDelta,
    MetricsUpdated,
    SessionError,
    SessionEvent,
    StateChanged,
    ToolCallFinished,
    ToolCallStarted,
    UserSpeechStarted,
    UserTranscript,
)
from livekitex_cli.session.session import AgentSession, start_session
from livekitex_cli.session.speech import AudioOutput, PacedOutput, SentenceSplitter

__all__ = [
    "AgentAudio",
    "AgentHandoff",
    "AgentReply",
    "AgentSession",
    "AgentState",
    "AgentTextDelta",
    "AudioOutput",
    "ChatHistory",
    "ConversationTurn",
    "MetricsUpdated",
    "PacedOutput",
    "SentenceSplitter",
    "SessionError",
    "SessionEvent",
    "StateChanged",
    "ToolCallFinished",
    "ToolCallStarted",
    "UserSpeechStarted",
    "UserTranscript",
    "start_session",
]
