"""The conversation: turns as the contract describes them, and the LLM messages made from them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from livekitex_cli.providers.base import ChatMessage, ToolCall

Role = Literal["user", "agent", "system", "tool"]


@dataclass
class ConversationTurn:
    role: Role
    content: str
    timestamp: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": self.content,
            "timestamp": self.timestamp,
            "metadata": dict(self.metadata),
        }


class ChatHistory:
    """Ordered turns. Agent turns that called tools keep their calls, so the LLM sees them."""

    def __init__(self, *, max_turns: int = 200) -> None:
        self.turns: list[ConversationTurn] = []
        self.max_turns = max_turns

    def add(self, role: Role, content: str, **metadata: Any) -> ConversationTurn:
        turn = ConversationTurn(role, content, metadata=metadata)
        self.turns.append(turn)
        if len(self.turns) > self.max_turns:
            self._trim()
        return turn

    def add_tool_calls(self, text: str, calls: list[ToolCall]) -> None:
        self.add("agent", text, tool_calls=[_call_dict(c) for c in calls])

    def add_tool_result(self, call: ToolCall, output: str, *, error: bool) -> None:
        self.add("tool", output, call_id=call.id, name=call.name, error=error)

    def messages(self, instructions: str) -> list[ChatMessage]:
        """OpenAI chat messages: the instructions first, then every turn."""
        out: list[ChatMessage] = [{"role": "system", "content": instructions}]
        for turn in self.turns:
            if turn.role == "user":
                out.append({"role": "user", "content": turn.content})
            elif turn.role == "system":
                out.append({"role": "system", "content": turn.content})
            elif turn.role == "tool":
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": turn.metadata["call_id"],
                        "content": turn.content,
                    }
                )
            elif turn.metadata.get("tool_calls"):
                out.append(
                    {
                        "role": "assistant",
                        "content": turn.content,
                        "tool_calls": turn.metadata["tool_calls"],
                    }
                )
            elif turn.content:
                out.append({"role": "assistant", "content": turn.content})
        return out

    def _trim(self) -> None:
        """Drop the oldest turns, never leaving a tool result without its call."""
        cut = len(self.turns) - self.max_turns
        while cut < len(self.turns) and self.turns[cut].role == "tool":
            cut += 1
        del self.turns[:cut]


def _call_dict(call: ToolCall) -> dict[str, Any]:
    arguments = call.arguments
    try:
        json.loads(arguments or "{}")
    except ValueError:
        arguments = "{}"  # servers reject a history whose arguments are not JSON
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments or "{}"},
    }
