"""Helpers for testing agents without a cloud: a scripted OpenAI-compatible server."""

from livekitex_cli.testing.openai_server import (
    Hang,
    Malformed,
    Reset,
    ScriptedOpenAI,
    Status,
    Text,
    ToolCalls,
    Truncated,
)

__all__ = [
    "Hang",
    "Malformed",
    "Reset",
    "ScriptedOpenAI",
    "Status",
    "Text",
    "ToolCalls",
    "Truncated",
]
