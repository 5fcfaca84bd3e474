"""Speech and language providers: base classes, plugins, and the built-in implementations."""

from livekitex_cli.providers.audio import AudioChunk, silence
from livekitex_cli.providers.base import (
    LLM,
    STT,
    TTS,
    VAD,
    ChatDelta,
    ChatMessage,
    Provider,
    ProviderStats,
    ProviderTiming,
    ToolCall,
    Transcript,
)
from livekitex_cli.providers.plugin import (
    KINDS,
    Kind,
    ProviderFactory,
    ProviderOptions,
    ProviderPlugin,
    ProviderRegistry,
    default_providers,
)

__all__ = [
    "KINDS",
    "LLM",
    "STT",
    "TTS",
    "VAD",
    "AudioChunk",
    "ChatDelta",
    "ChatMessage",
    "Kind",
    "Provider",
    "ProviderFactory",
    "ProviderOptions",
    "ProviderPlugin",
    "ProviderRegistry",
    "ProviderStats",
    "ProviderTiming",
    "ToolCall",
    "Transcript",
    "default_providers",
    "silence",
]
