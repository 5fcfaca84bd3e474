"""Tool calls for small local models: the model's own decision, a grammar's guarantees.

Tools are described in the system prompt in the Hermes format (``<tools>`` JSON, calls as
``{"name": ..., "arguments": ...}``) that Qwen, SmolLM2 and most small instruct models were
trained on, and past calls and results are rendered the same way. Grammars (llguidance, built
into the runtime) then bound what can be sampled: the odds of the first token under "a call
or text" decide, then either a call to one of the offered tools whose arguments match that
tool's JSON schema, or plain spoken text that can contain no markup at all and ends at a
sentence end.

Plans: ``reply`` (text only), ``call`` (one forced tool), ``route`` (the model chooses; with
``allow_text`` it may answer in text). Whether to call is read from the user's newest message
alone, by the model's odds of starting a call against starting text (see ``decide_messages``);
which call, with which arguments, from the whole conversation. Free to choose (``auto``), the
model routes only until a tool has answered the current user message; then it answers with
the result, which keeps small models from calling the same tool again and again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from livekitex_cli.providers.base import ChatMessage
from livekitex_cli.tools import FunctionTool, to_openai_format

# Plain spoken text: no markup, brackets, code, entities or line breaks, and it ends at the end
# of a sentence (a reply cannot stop at "Here is the weather:").
TEXT = r"/[^<>{}\[\]|`*#_\\&\n\r\t]*[.!?]/"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
# a call is chosen when the model's odds for one are over 0.45 (0.8 to 1 against words): a call
# missed leaves the reply without its facts ("I don't have any information about your order")
CALL_LINE = 0.45
NAME_START = f'{CALL_OPEN}\n{{"name": "'  # a call written up to its tool's name


@dataclass(frozen=True)
class Plan:
    mode: Literal["reply", "route", "call"]
    tools: tuple[FunctionTool, ...] = ()
    allow_text: bool = True


def plan(messages: list[ChatMessage], tools: list[FunctionTool], choice: str | None) -> Plan:
    """What this turn may do, from the offered tools and the OpenAI-style ``tool_choice``."""
    if not tools or choice == "none":
        return Plan("reply")
    if choice not in (None, "auto", "required"):
        forced = [t for t in tools if t.name == choice]
        if not forced:
            raise ValueError(f"tool_choice '{choice}' is not one of the offered tools")
        return Plan("call", tuple(forced), allow_text=False)
    if choice == "required":
        return Plan("route", tuple(tools), allow_text=False)
    if answered(messages):
        return Plan("reply")
    return Plan("route", tuple(tools))


def answered(messages: list[ChatMessage]) -> bool:
    """Whether a tool result came in after the last user message."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return False
        if message.get("role") == "tool":
            return True
    return False


def tools_block(tools: list[FunctionTool]) -> str:
    """The tool section of a system prompt, as Qwen2.5's own chat template writes it."""
    signatures = "\n".join(json.dumps(_without_defaults(t)) for t in to_openai_format(tools))
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{signatures}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        f"{CALL_OPEN}{CALL_CLOSE} XML tags:\n"
        f'{CALL_OPEN}\n{{"name": <function-name>, "arguments": <args-json-object>}}\n{CALL_CLOSE}'
    )


def _without_defaults(schema: Any) -> Any:
    """A schema minus its ``default`` values, which small models copy instead of the user's."""
    if isinstance(schema, dict):
        return {k: _without_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_without_defaults(v) for v in schema]
    return schema


def render_call(name: str, arguments: str) -> str:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        parsed = {}
    return f"{CALL_OPEN}\n{json.dumps({'name': name, 'arguments': parsed})}\n{CALL_CLOSE}"


def prompt_messages(messages: list[ChatMessage], tools: list[FunctionTool]) -> list[ChatMessage]:
    """The history as plain system/user/assistant text for any chat template: the tools join
    the first system message, calls become the assistant's ``<tool_call>`` text and results
    a user turn of ``<tool_response>`` (as Qwen's template renders them)."""
    out: list[ChatMessage] = []
    heard = False  # a fixed line said before the user spoke (a greeting) is left out: after
    for message in messages:  # one, small models answer the first request in text, not a call
        role, content = message.get("role"), str(message.get("content") or "")
        heard = heard or role == "user"
        if role == "assistant" and not heard:
            continue
        if role == "assistant":
            calls = [
                render_call(c["function"]["name"], c["function"].get("arguments") or "{}")
                for c in message.get("tool_calls") or []
                if c.get("function", {}).get("name")
            ]
            text = "\n".join(part for part in (content.strip(), *calls) if part)
            if text:
                out.append({"role": "assistant", "content": text})
        elif role == "tool":
            out.append({"role": "user", "content": f"<tool_response>\n{content}\n</tool_response>"})
        elif role in ("system", "user"):
            out.append({"role": role, "content": content})
    if tools:
        block = tools_block(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content'].rstrip()}\n\n{block}"}
        else:
            out.insert(0, {"role": "system", "content": block})
    return _alternating(out)


def answer_messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """For a reply in words: every user turn whose tools ran carries their results, folded
    into the user's message with a nudge to use them (tiny models otherwise talk past a
    ``<tool_response>``), and the calls themselves are left out. Each turn reads the same
    whether it is the last or an earlier one, so the reply slot's prompt cache keeps the
    whole history from one turn to the next."""
    names = {
        call.get("id", ""): call.get("function", {}).get("name", "the tool")
        for m in messages
        for call in m.get("tool_calls") or []
    }
    out: list[ChatMessage] = []
    asked: int | None = None  # the index in ``out`` of the user message the results answer
    facts: list[str] = []

    def fold() -> None:
        if asked is not None and facts:
            question = str(out[asked].get("content") or "")
            text = "\n".join([question, "", *facts, "", "Answer my question with these results."])
            out[asked] = {"role": "user", "content": text}

    for message in messages:
        role = message.get("role")
        if role == "user":
            fold()
            asked, facts = len(out), []
            out.append(message)
        elif role == "tool":
            name = names.get(str(message.get("tool_call_id", "")), "the tool")
            facts.append(f"{name} returned: {message.get('content')}")
        elif role == "assistant" and message.get("tool_calls"):
            continue  # the call is in the results it brought
        else:
            out.append(message)
    fold()
    return prompt_messages(out, [])


def _alternating(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Merge neighbours of the same role (some templates refuse two user turns in a row)."""
    out: list[ChatMessage] = []
    for message in messages:
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n{message['content']}"}
        else:
            out.append(dict(message))
    return out


def arguments_schema(tool: FunctionTool) -> dict[str, Any]:
    """The tool's parameters for the grammar, closed to extra keys (at every level), so a call
    cannot invent any. Strings get no ``maxLength``: a bounded string makes the grammar engine
    slow to a crawl (0.24 tokens/s at 160 characters); ``CALL_TOKENS`` bounds a call instead."""
    schema = dict(tool.parameters) or {"type": "object", "properties": {}}
    closed: dict[str, Any] = _closed({**schema, "type": "object"})
    return closed


def _closed(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def grammar(tools: tuple[FunctionTool, ...], *, calls: bool, text: bool) -> str:
    """An llguidance grammar: a call to one of ``tools`` (arguments valid for its schema),
    plain text, or either (the first token then decides)."""
    lines = ["%llguidance {}", "start: " + " | ".join(["call"] * calls + ["text"] * text)]
    if calls:
        names = " | ".join(f"call{i}" for i in range(len(tools)))
        # models wrap calls in tool_call tags or a code fence, or write them bare: all are calls
        lines.append(f'call: ("{CALL_OPEN}\\n" | "```json\\n" | "```\\n")? ({names}) end?')
        lines.append(f'end: "\\n{CALL_CLOSE}" | "\\n```"')
        for i, tool in enumerate(tools):
            head = json.dumps(f'{{"name": "{tool.name}", "arguments": ')
            lines.append(f'call{i}: {head} args{i} "}}"')
            lines.append(f"args{i}: %json {json.dumps(arguments_schema(tool))}")
    if text:
        lines.append(f"text: {TEXT}")
    return "\n".join([*lines, ""])


def decide_messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The prompt that decides between a call and words: the instructions and the user's newest
    message, nothing between. Shown the history, a 0.5B model calls a tool for anything once
    one was called (P(call) 0.90-0.98 for "Thanks!", "What's your name?"); shown the earlier
    replies, it answers everything in words, "And in Berlin?" too. Read alone (with the
    named-tool step of ``named_share``), 14 of 14 follow-ups went the right way, against 8
    (``python -m bench routing``; some farewells still draw a call)."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        return messages
    lead = [m for m in messages[: users[0]] if m.get("role") == "system"]
    return [*lead, messages[users[-1]]]


def call_share(top: dict[str, float], sampled: str) -> float:
    """From the first token's likeliest candidates (``top``: token -> probability): the share
    of those that open a call (``{"``, a fence, ``<tool_call>``, stray ``>{"``), 0 to 1. A
    call's spellings split its odds, and so do text's: one greedy token chose a call for
    "Thank you." at 0.30 against text's 0.50 spread over ``Good``, ``I``, ``Thank``. Without
    candidates, the sampled token (1 or 0)."""
    words = _words(top)
    if not words:
        return float(is_call(sampled))
    return _opening(words) / sum(p for _, p in words)


def named_share(top: dict[str, float], names: list[str]) -> float:
    """From the likeliest first tokens of a call's tool name (after ``NAME_START``): the share
    that begin one of ``names``. A small model that leans to a call for "That's all, bye!"
    (0.67) names no tool when made to write the name: ``bye`` 0.74, ``good`` 0.15, the
    support agent's own tools 0.01; asked for an order, ``lookup`` 0.999. 1 where the chat
    template did not go on with the begun answer (the step then decides nothing)."""
    words = _words(top)
    total = sum(p for _, p in words)
    if not words or _opening(words) > 0.5 * total:  # a template that began a new answer
        return 1.0
    real = sum(p for token, p in words if any(name.startswith(token) for name in names))
    return real / total


def _words(top: dict[str, float]) -> list[tuple[str, float]]:
    """Candidates that are not white space, stripped."""
    return [(token.strip(), p) for token, p in top.items() if token.strip()]


def _opening(words: list[tuple[str, float]]) -> float:
    """The probability of the candidates that open a call."""
    return sum(p for token, p in words if "{" in token or token.startswith(("<", "`")))


def is_call(text: str) -> bool:
    """Whether a reply's first characters start a tool call (the grammar allows no other
    text to start with these)."""
    return text.lstrip().startswith(("{", "<", "`"))


def parse_call(text: str) -> tuple[str, str] | None:
    """``(name, arguments as JSON)`` from a grammar-constrained call, None if it is cut short."""
    body = text.strip().removeprefix(CALL_OPEN).removesuffix(CALL_CLOSE).strip()
    body = body.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        call = json.loads(body)
    except ValueError:
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    return call["name"], json.dumps(call.get("arguments") or {})
