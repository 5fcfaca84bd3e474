"""Simulated callers: an LLM plays the user (``persona`` with a ``goal``) for up to
``max_turns`` turns, then the judge decides whether the conversation meets ``success``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livekitex_cli.errors import LkxError, ResourceError
from livekitex_cli.providers import ChatMessage
from livekitex_cli.scenarios.audio import Driver
from livekitex_cli.scenarios.load import Plan
from livekitex_cli.scenarios.runner import Failure, RunOutcome, TurnLog, finish, wait_turn
from livekitex_cli.scenarios.schema import Turn
from livekitex_cli.session import AgentSession
from livekitex_cli.session.run_result import Recording

if TYPE_CHECKING:
    from livekitex_cli.scenarios.runner import Runner

CALLER_INSTRUCTIONS = """You are testing a conversational agent by playing a caller. Stay in \
character and never say you are an AI or a test.
Who you are: {persona}
What you want: {goal}
Say one short thing at a time, as this caller would. When you have what you wanted, or it \
clearly cannot be had, answer with exactly: DONE"""
DONE = "DONE"


async def simulate(
    runner: Runner, plan: Plan, session: AgentSession, driver: Driver, outcome: RunOutcome
) -> None:
    scenario = plan.scenario
    simulator, judge = runner.simulator_for(plan), runner.judge_for(plan)
    assert simulator is not None and judge is not None, "checked by preflight"
    llm = await runner.judges.llm(simulator)
    system = CALLER_INSTRUCTIONS.format(persona=scenario.persona, goal=scenario.goal)
    messages: list[ChatMessage] = [{"role": "system", "content": system}]
    lines: list[str] = []
    greeting = Recording(session)
    await session.start()
    timed_out = not await wait_turn(session, greeting, None, plan.timeout)
    outcome.turns.append(TurnLog(-1, None, finish(greeting, timed_out)))
    _hear(outcome.turns[-1], messages, lines)
    for number in range(scenario.max_turns):
        if messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": "(silence)"})
        try:
            said = "".join([d.text async for d in llm.chat(messages=messages)]).strip()
        except LkxError as exc:
            raise ResourceError("simulator", str(exc)) from None
        if not said or said.upper().rstrip(".!") == DONE:
            break
        said = said.removesuffix(DONE).strip()
        messages.append({"role": "assistant", "content": said})
        lines.append(f"caller: {said}")
        recording = Recording(session, said)
        await driver.send(session, recording, Turn(user=said))
        timed_out = not await wait_turn(session, recording, None, plan.timeout)
        result = finish(recording, timed_out)
        await driver.hear(session, result)
        outcome.turns.append(TurnLog(number, said, result))
        _hear(outcome.turns[-1], messages, lines)
        if timed_out:
            message = f"the agent was not done after {plan.timeout:g} s"
            outcome.failure = Failure(plan.where("name"), message, number)
            return
    assert scenario.success is not None
    outcome.verdict = await runner.judges.grade(
        judge, criterion=scenario.success, reply="\n".join(lines), subject="conversation"
    )
    if not outcome.verdict.passed:
        message = f"the caller's goal was not met ({scenario.success!r}): {outcome.verdict.reason}"
        outcome.failure = Failure(plan.where("success"), message)


def _hear(log: TurnLog, messages: list[ChatMessage], lines: list[str]) -> None:
    """The agent's replies, as the caller hears them (the caller's 'user' turn)."""
    said = " ".join(reply.content for reply in log.result.replies if reply.content)
    if said:
        messages.append({"role": "user", "content": said})
        lines.append(f"agent: {said}")
