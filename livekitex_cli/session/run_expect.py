"""Checks on a turn's events: the ``expect`` navigator of ``RunResult``, the matching rules
``lkx test`` shares with it, and the judge's constrained verdict."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from livekitex_cli.errors import ExternalServiceError
from livekitex_cli.providers import LLM
from livekitex_cli.session.run_result import (
    ErrorEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    MessageEvent,
    RunEvent,
)
from livekitex_cli.tools import FunctionTool

# matching rules, shared with ``lkx test`` ---------------------------------------------------


def subset_problem(expected: Any, actual: Any, path: str = "") -> str | None:
    """Why ``actual`` does not contain ``expected`` (dicts: every expected key, recursively;
    anything else: equal), or ``None``. Numbers compare by value (1 == 1.0)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path or 'arguments'}: expected an object, got {json.dumps(actual)}"
        for key, value in expected.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{where}: missing"
            problem = subset_problem(value, actual[key], where)
            if problem:
                return problem
        return None
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}"
    return None


def text_problem(
    text: str,
    *,
    contains: Sequence[str] = (),
    not_contains: Sequence[str] = (),
    matches: str | None = None,
) -> str | None:
    """Why ``text`` fails the checks (case-insensitive substrings; a regex searched), or None."""
    folded = text.casefold()
    missing = [part for part in contains if part.casefold() not in folded]
    if missing:
        return f"lacks {', '.join(repr(m) for m in missing)}: {text!r}"
    found = [part for part in not_contains if part.casefold() in folded]
    if found:
        return f"contains {', '.join(repr(f) for f in found)}: {text!r}"
    if matches is not None and re.search(matches, text) is None:
        return f"does not match /{matches}/: {text!r}"
    return None


def describe(event: RunEvent) -> str:
    """One line for an event, as failure reports show it."""
    if isinstance(event, MessageEvent):
        said = "agent (interrupted)" if event.interrupted else "agent"
        return f"{said}: {event.content!r}"
    if isinstance(event, FunctionCallEvent):
        return f"-> {event.name}({event.raw_arguments})"
    if isinstance(event, FunctionCallOutputEvent):
        return f"<- {event.name}{' failed' if event.is_error else ''}: {event.output[:160]}"
    return f"error: {event.message}"


class RunExpect:
    """Walks a turn's events in order; each check raises ``AssertionError`` with the context."""

    def __init__(self, events: list[RunEvent], user_input: str | None = None) -> None:
        self.events = events
        self.user_input = user_input
        self.index = 0

    def fail(self, message: str, at: int | None = None) -> None:
        marker = self.index if at is None else at
        lines = [
            f"{'>>' if i == marker else '  '} [{i}] {describe(e)}"
            for i, e in enumerate(self.events)
        ]
        raise AssertionError("\n".join([message, "events:", *(lines or ["   (none)"])]))

    def __getitem__(self, index: int) -> EventCheck:
        if not -len(self.events) <= index < len(self.events):
            self.fail(f"no event [{index}]: the turn has {len(self.events)}")
        return EventCheck(self.events[index], self, index % len(self.events))

    def next_event(self, *, type: str | None = None) -> EventCheck:  # noqa: A002 - LKA's name
        """The next event (of ``type``: message, function_call, function_call_output, error)."""
        while self.index < len(self.events):
            index, self.index = self.index, self.index + 1
            if type is None or self.events[index].type == type:
                return EventCheck(self.events[index], self, index)
        self.fail(f"expected another {type or 'event'}, but none is left")
        raise AssertionError  # unreachable: fail raises

    def skip_next(self, count: int = 1) -> RunExpect:
        if self.index + count > len(self.events):
            self.fail(f"cannot skip {count} events: {len(self.events) - self.index} left")
        self.index += count
        return self

    def no_more_events(self) -> None:
        if self.index < len(self.events):
            self.fail(f"expected no more events, found {self.events[self.index].type}")

    def contains_function_call(
        self, *, name: str | None = None, arguments: dict[str, Any] | None = None
    ) -> EventCheck:
        for index, event in enumerate(self.events):
            if (
                isinstance(event, FunctionCallEvent)
                and call_problem(event, name, arguments) is None
            ):
                return EventCheck(event, self, index)
        self.fail(f"no function call matches name={name!r} arguments={arguments!r}", at=-1)
        raise AssertionError  # unreachable

    def contains_message(self, *, contains: str | Sequence[str] = ()) -> EventCheck:
        wanted = [contains] if isinstance(contains, str) else list(contains)
        for index, event in enumerate(self.events):
            if isinstance(event, MessageEvent) and not text_problem(event.content, contains=wanted):
                return EventCheck(event, self, index)
        self.fail(f"no message contains {wanted!r}", at=-1)
        raise AssertionError  # unreachable


def call_problem(
    event: FunctionCallEvent, name: str | None, arguments: dict[str, Any] | None
) -> str | None:
    if name is not None and event.name != name:
        return f"expected a call to {name}, got {event.name}"
    if arguments is not None:
        if event.arguments is None:
            return f"{event.name} got arguments that are not a JSON object: {event.raw_arguments!r}"
        problem = subset_problem(arguments, event.arguments)
        if problem:
            return f"{event.name} arguments: {problem}"
    return None


@dataclass
class EventCheck:
    """One event under test; each ``is_...`` returns ``self`` so checks chain."""

    event: RunEvent
    parent: RunExpect
    index: int
    verdict: Verdict | None = None

    def _fail(self, message: str) -> None:
        self.parent.fail(message, at=self.index)

    def is_function_call(
        self, *, name: str | None = None, arguments: dict[str, Any] | None = None
    ) -> EventCheck:
        if not isinstance(self.event, FunctionCallEvent):
            self._fail(f"expected a function call, got {self.event.type}")
        elif problem := call_problem(self.event, name, arguments):
            self._fail(problem)
        return self

    def is_function_call_output(
        self, *, contains: str | None = None, is_error: bool | None = None
    ) -> EventCheck:
        event = self.event
        if not isinstance(event, FunctionCallOutputEvent):
            self._fail(f"expected a function call output, got {event.type}")
        elif is_error is not None and event.is_error != is_error:
            self._fail(f"expected is_error={is_error}, got {event.is_error}: {event.output!r}")
        elif contains is not None and (problem := text_problem(event.output, contains=[contains])):
            self._fail(f"the output {problem}")
        return self

    def is_message(
        self,
        *,
        contains: str | Sequence[str] = (),
        not_contains: str | Sequence[str] = (),
        matches: str | None = None,
        interrupted: bool | None = None,
    ) -> EventCheck:
        event = self.event
        if not isinstance(event, MessageEvent):
            self._fail(f"expected a message, got {event.type}")
            return self
        if interrupted is not None and event.interrupted != interrupted:
            self._fail(f"expected interrupted={interrupted}, got {event.interrupted}")
        problem = text_problem(
            event.content,
            contains=[contains] if isinstance(contains, str) else contains,
            not_contains=[not_contains] if isinstance(not_contains, str) else not_contains,
            matches=matches,
        )
        if problem:
            self._fail(f"the message {problem}")
        return self

    def is_error(self, *, contains: str | None = None) -> EventCheck:
        if not isinstance(self.event, ErrorEvent):
            self._fail(f"expected an error, got {self.event.type}")
        elif contains is not None and (
            problem := text_problem(self.event.message, contains=[contains])
        ):
            self._fail(f"the error {problem}")
        return self

    async def judge(self, llm: LLM, *, intent: str) -> EventCheck:
        """Ask ``llm`` whether this message fulfils ``intent``; fails with the judge's reason."""
        if not isinstance(self.event, MessageEvent):
            self._fail(f"only a message can be judged, not {self.event.type}")
            return self
        said = [f"user: {self.parent.user_input}"] if self.parent.user_input else []
        context = "\n".join(said + [describe(e) for e in self.parent.events[: self.index]])
        self.verdict = await grade(llm, criterion=intent, reply=self.event.content, context=context)
        if not self.verdict.passed:
            self._fail(f"the judge says the message does not {intent!r}: {self.verdict.reason}")
        return self


# the judge -----------------------------------------------------------------------------------


class Verdict(pydantic.BaseModel):
    """A judge's answer: ``{"pass": bool, "reason": str}``."""

    model_config = pydantic.ConfigDict(populate_by_name=True, frozen=True)

    passed: bool = pydantic.Field(alias="pass")
    reason: str = ""


JUDGE_INSTRUCTIONS = (
    "You grade a conversational agent against a criterion. Be strict: it passes only if it "
    "clearly meets the criterion. Answer by calling verdict with pass (true or false) and a "
    "one-sentence reason."
)
VERDICT_TOOL = FunctionTool(
    name="verdict",
    description="Record whether the reply meets the criterion, and why.",
    fn=lambda **_: None,
    arguments_model=Verdict,
    parameters={
        "type": "object",
        "properties": {
            "pass": {"type": "boolean", "description": "true if the reply meets the criterion"},
            "reason": {"type": "string", "description": "one sentence: why"},
        },
        "required": ["pass", "reason"],
        "additionalProperties": False,
    },
)


async def grade(
    llm: LLM, *, criterion: str, reply: str, context: str = "", subject: str = "reply"
) -> Verdict:
    """Ask ``llm`` whether ``reply`` (a reply, or with ``subject="conversation"`` a whole
    conversation) meets ``criterion``, for a constrained verdict: a forced ``verdict`` tool call
    (JSON in text is accepted from models that answer in text). Provider failures propagate."""
    before = f"Conversation so far:\n{context}\n\n" if context else ""
    question = f"{before}The {subject} to grade:\n{reply}\n\nCriterion: the {subject} {criterion}"
    messages = [
        {"role": "system", "content": JUDGE_INSTRUCTIONS},
        {"role": "user", "content": question},
    ]
    text: list[str] = []
    raw: str | None = None
    async for delta in llm.chat(messages=messages, tools=[VERDICT_TOOL], tool_choice="verdict"):
        text.append(delta.text)
        if delta.tool_call is not None and delta.tool_call.name == "verdict":
            raw = delta.tool_call.arguments
    if raw is None:
        found = re.search(r"\{.*\}", "".join(text), re.S)
        raw = found.group(0) if found else "".join(text)
    try:
        return Verdict.model_validate_json(raw)
    except pydantic.ValidationError:
        reason = f"the judge answered without a verdict: {raw[:200]!r}"
        raise ExternalServiceError(llm.service, reason) from None
