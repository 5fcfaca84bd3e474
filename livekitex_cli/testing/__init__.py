"""Helpers for testing agents without a cloud: a scripted OpenAI-compatible server."""

from livekitex_cli.testing.openai_server import (
    Empty,
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
    "Empty",
    "Hang",
    "Malformed",
    "Reset",
    "ScriptedOpenAI",
    "Status",
    "Text",
    "ToolCalls",
    "Truncated",
]
