"""The steps a ``ScriptedOpenAI`` script is made of: text, tool calls, and faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Text:
    text: str
    chunk_chars: int = 8
    delay: float = 0.0  # between chunks


@dataclass
class ToolCalls:
    calls: list[tuple[str, str]]  # (name, arguments as a JSON string, possibly invalid)
    text: str = ""


@dataclass
class Status:
    code: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    seconds: float
    until: threading.Event | None = None  # set (from any thread) to end the hang early


@dataclass
class Reset:
    """Stream ``text`` partly, then drop the connection."""

    text: str = "This reply will be cut off in the"
    after_chunks: int = 2


@dataclass
class Malformed:
    """A chunk that is not JSON, after ``after_chunks`` good ones."""

    after_chunks: int = 1


@dataclass
class Truncated:
    """A chunk cut mid-JSON, then the stream ends without ``[DONE]``."""

    after_chunks: int = 1


@dataclass
class Empty:
    """A completion with no text and no tool call (what some servers send when the model
    produces nothing): only a finish chunk, then ``[DONE]``."""


Step = Text | ToolCalls | Status | Hang | Reset | Malformed | Truncated | Empty
