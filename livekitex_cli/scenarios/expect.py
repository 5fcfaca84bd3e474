"""A turn's ``expect:`` list checked against its ``RunResult``.

Expectations are matched in the order listed; the agent may do other things in between. A
``response`` is the next reply that was not interrupted; a ``function_call`` covers the calls
made before that reply; ``no_function_call``, ``interrupted`` and ``state`` look at the whole
turn. ``within_ms`` counts from the turn's input (audio: the end of the user's speech).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from livekitex_cli.scenarios.schema import (
    ErrorExpect,
    Expectation,
    FunctionCallExpect,
    HandoffExpect,
    InterruptedExpect,
    NoFunctionCallExpect,
    ResponseExpect,
    StateExpect,
)
from livekitex_cli.session.events import AgentHandoff
from livekitex_cli.session.run_expect import Verdict, call_problem, describe, text_problem
from livekitex_cli.session.run_result import (
    ErrorEvent,
    FunctionCallEvent,
    MessageEvent,
    RunResult,
)

Grade = Callable[[str, str], Awaitable[Verdict]]  # (criterion, reply) -> verdict


@dataclass
class Check:
    """The verdict on one expectation; ``at`` is the index of the event it looked at last."""

    index: int
    event: str
    passed: bool
    message: str = ""
    at: int | None = None
    verdict: Verdict | None = None
    cursor: int = 0


async def check_turn(
    expectations: Sequence[Expectation], result: RunResult, grade: Grade | None
) -> list[Check]:
    """Check in order; stop at the first that fails."""
    checks: list[Check] = []
    cursor = 0
    for index, expectation in enumerate(expectations):
        check = await _check(index, expectation, result, cursor, grade)
        checks.append(check)
        if not check.passed:
            break
        cursor = check.cursor
    return checks


async def _check(
    index: int, expectation: Expectation, result: RunResult, cursor: int, grade: Grade | None
) -> Check:
    name = expectation.event
    if isinstance(expectation, ResponseExpect):
        return await _response(index, expectation, result, cursor, grade)
    if isinstance(expectation, FunctionCallExpect):
        return _function_call(index, expectation, result, cursor)
    events = result.events
    if isinstance(expectation, NoFunctionCallExpect):
        wanted = set(expectation.names)
        for at, event in enumerate(events):
            if isinstance(event, FunctionCallEvent) and (not wanted or event.name in wanted):
                return Check(
                    index, name, False, f"expected no function call, got {describe(event)}", at
                )
        return Check(index, name, True, cursor=cursor)
    if isinstance(expectation, InterruptedExpect):
        for at, event in enumerate(events):
            if isinstance(event, MessageEvent) and event.interrupted:
                return Check(
                    index, name, True, f"cut off after {event.content!r}", at, cursor=cursor
                )
        replies = [e for e in events if isinstance(e, MessageEvent)]
        why = f"its reply finished: {replies[0].content!r}" if replies else "it said nothing"
        return Check(index, name, False, f"expected the agent to be interrupted, but {why}")
    if isinstance(expectation, ErrorExpect):
        errors = [(at, e) for at, e in enumerate(events) if isinstance(e, ErrorEvent)]
        errors = [(at, e) for at, e in errors if at >= cursor]
        if not errors:
            return Check(index, name, False, "expected an error, but none was reported")
        at, error = errors[0]
        problem = text_problem(error.message, contains=expectation.text_contains)
        if problem:
            return Check(index, name, False, f"the error {problem}", at)
        return Check(index, name, True, error.message, at, cursor=at + 1)
    if isinstance(expectation, HandoffExpect):
        made = [(t, e) for t, e in result.timeline if isinstance(e, AgentHandoff)]
        handed = ", ".join(f"{e.from_agent} -> {e.to_agent}" for _, e in made) or "none"
        for t, e in made:
            if expectation.to in (None, e.to_agent):  # later expectations look after it
                after = next((i for i, item in enumerate(events) if item.at_ms > t), len(events))
                return Check(index, name, True, handed, cursor=max(cursor, after))
        target = f"a handoff to {expectation.to}" if expectation.to else "a handoff"
        return Check(index, name, False, f"expected {target}, saw {handed}")
    assert isinstance(expectation, StateExpect)
    seen = iter(result.states)
    if all(state in seen for state in expectation.states):  # an ordered subsequence
        return Check(index, name, True, cursor=cursor)
    wanted_states = " -> ".join(expectation.states)
    message = f"expected states {wanted_states}, saw {' -> '.join(result.states) or 'none'}"
    return Check(index, name, False, message)


async def _response(
    index: int, expectation: ResponseExpect, result: RunResult, cursor: int, grade: Grade | None
) -> Check:
    name, events = "response", result.events
    found = next(
        (
            at
            for at in range(cursor, len(events))
            if isinstance(events[at], MessageEvent) and not events[at].interrupted  # type: ignore[union-attr]
        ),
        None,
    )
    if found is None:
        cut = [e for e in events[cursor:] if isinstance(e, MessageEvent)]
        why = f"; it was cut off after {cut[0].content!r}" if cut else ""
        return Check(
            index, name, False, f"expected a response, but the agent said nothing more{why}"
        )
    reply = events[found]
    assert isinstance(reply, MessageEvent)
    took = (reply.first_output_ms if reply.first_output_ms is not None else reply.at_ms) - (
        result.input_ms
    )
    if expectation.within_ms is not None and took > expectation.within_ms:
        message = f"first output after {took:.0f} ms, over within_ms {expectation.within_ms:g}"
        return Check(index, name, False, message, found)
    problem = text_problem(
        reply.content,
        contains=expectation.text_contains,
        not_contains=expectation.text_not_contains,
        matches=expectation.text_matches,
    )
    if problem:
        return Check(index, name, False, f"the response {problem}", found)
    verdict = None
    if expectation.eval is not None:
        assert grade is not None, "a scenario with eval: runs only with a judge"
        verdict = await grade(expectation.eval, reply.content)
        if not verdict.passed:
            message = f"the judge says it does not {expectation.eval!r}: {verdict.reason}"
            return Check(index, name, False, message, found, verdict)
    return Check(index, name, True, f"{took:.0f} ms", found, verdict, cursor=found + 1)


def _function_call(
    index: int, expectation: FunctionCallExpect, result: RunResult, cursor: int
) -> Check:
    name, events = "function_call", result.events
    end = next(
        (
            at
            for at in range(cursor, len(events))
            if isinstance(events[at], MessageEvent) and not events[at].interrupted  # type: ignore[union-attr]
        ),
        len(events),
    )
    calls = [(at, e) for at in range(cursor, end) if isinstance(e := events[at], FunctionCallEvent)]
    if not calls:
        before = f" before the reply {events[end].content!r}" if end < len(events) else ""  # type: ignore[union-attr]
        return Check(index, name, False, f"expected a function call, but none was made{before}")
    made = ", ".join(describe(call)[3:] for _, call in calls)
    if expectation.count is not None and len(calls) != expectation.count:
        message = f"expected {expectation.count} function calls, got {len(calls)}: {made}"
        return Check(index, name, False, message, calls[-1][0])
    left = list(calls)
    for spec in expectation.calls:
        problems = [call_problem(call, spec.name, spec.arguments) for _, call in left]
        match = next((i for i, problem in enumerate(problems) if problem is None), None)
        if match is None:
            wanted = spec.name + (f"({json.dumps(spec.arguments)})" if spec.arguments else "")
            closest = next((p for p in problems if p and p.startswith(spec.name)), None)
            detail = f" ({closest})" if closest else ""
            return Check(index, name, False, f"expected {wanted}, got {made}{detail}", calls[-1][0])
        del left[match]
    took = calls[0][1].at_ms - result.input_ms
    if expectation.within_ms is not None and took > expectation.within_ms:
        message = f"first call after {took:.0f} ms, over within_ms {expectation.within_ms:g}"
        return Check(index, name, False, message, calls[0][0])
    return Check(index, name, True, made, calls[-1][0], cursor=calls[-1][0] + 1)
