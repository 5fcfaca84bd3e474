"""Run scenario plans: each run in a fresh in-process ``AgentSession``, ``jobs`` at a time.

A run opens the session (the greeting is recorded, as the first turn when that turn has no
``user:``), then per turn sends the input, records until the agent is done (or, when the next
turn has ``send_after``, until that moment), and checks the turn's expectations. The first
failure ends the run. ``repeat: N`` runs N times; the scenario passes when at least
``pass_rate`` of its runs passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from livekitex_cli.config import ProviderConfig
from livekitex_cli.errors import LkxError, ResourceError
from livekitex_cli.providers import LLM, ProviderRegistry
from livekitex_cli.scenarios.audio import AudioKit, Driver, TextDriver
from livekitex_cli.scenarios.expect import Check, check_turn
from livekitex_cli.scenarios.judge import Judges, JudgeUnavailable, config_key, judge_note
from livekitex_cli.scenarios.load import Plan
from livekitex_cli.scenarios.schema import SendAfter
from livekitex_cli.session import AgentSession, PacedOutput, SessionEvent
from livekitex_cli.session.events import (
    AgentAudio,
    AgentTextDelta,
    StateChanged,
    ToolCallStarted,
    UserTranscript,
)
from livekitex_cli.session.run_expect import Verdict, describe
from livekitex_cli.session.run_result import Recording, RunResult
from livekitex_cli.session.variables import fill_session


@dataclass
class TurnLog:
    number: int  # -1: the greeting before a first turn that has user input
    text: str | None
    result: RunResult
    checks: list[Check] = field(default_factory=list)
    heard: str | None = None  # audio: what the agent's STT made of the user's speech


@dataclass
class Failure:
    where: str  # file:line
    message: str
    turn: int | None = None
    expectation: int | None = None
    at: int | None = None  # the event the failing check looked at last


@dataclass
class RunOutcome:
    attempt: int
    turns: list[TurnLog] = field(default_factory=list)
    failure: Failure | None = None
    seconds: float = 0.0
    verdict: Verdict | None = None  # a simulated caller's success
    unavailable: str | None = None  # a judge or model that could not be had (exit code 6)

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass
class ScenarioOutcome:
    plan: Plan
    runs: list[RunOutcome] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def passed(self) -> bool:
        return bool(self.runs) and self.passes >= self.plan.pass_rate * len(self.runs) - 1e-9

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)

    @property
    def first_failure(self) -> RunOutcome | None:
        return next((run for run in self.runs if not run.passed), None)


class Runner:
    """Runs plans ``jobs`` at a time on this event loop; ``on_done`` hears each scenario."""

    def __init__(
        self,
        *,
        jobs: int = 4,
        providers: ProviderRegistry | None = None,
        judges: Judges | None = None,
        judge: ProviderConfig | None = None,
        on_done: Callable[[ScenarioOutcome], None] | None = None,
    ) -> None:
        self.jobs = max(1, jobs)
        self.judge = judge  # ``--judge``: wins over the files' own
        self.judges = judges or Judges(providers)
        self.notes: list[str] = []  # for the user, once each (a judge too weak to trust)
        self.audio = AudioKit(providers)
        self.on_done = on_done

    def judge_for(self, plan: Plan) -> ProviderConfig | None:
        return self.judge or plan.judge

    def simulator_for(self, plan: Plan) -> ProviderConfig | None:
        return plan.simulator or self.judge_for(plan)

    def preflight(self, plans: Sequence[Plan]) -> None:
        """Every judge the plans need, configured and able to work: ``JudgeUnavailable``."""
        checked: set[str] = set()
        for plan in plans:
            if not plan.needs_judge:
                continue
            configs = [self.judge_for(plan)] + (
                [self.simulator_for(plan)] if plan.simulated else []
            )
            for config in configs:
                if config is None:
                    reason = (
                        f"{plan.where('name')}: '{plan.name}' needs a judge (it has eval: or a "
                        "simulated caller): add judge: to the file or pass --judge"
                    )
                    raise JudgeUnavailable(reason)
                if config_key(config) not in checked:
                    self.judges.check(config)
                    checked.add(config_key(config))
                    if (note := judge_note(config)) and note not in self.notes:
                        self.notes.append(note)

    async def run(self, plans: Sequence[Plan]) -> list[ScenarioOutcome]:
        """Run every plan; ``JudgeUnavailable`` before anything runs if a judge is missing."""
        self.preflight(plans)
        warm = _warm_llms(plans)
        outcomes = [ScenarioOutcome(plan) for plan in plans]
        limit = asyncio.Semaphore(self.jobs)
        left = {id(o): o.plan.repeat for o in outcomes}

        async def job(outcome: ScenarioOutcome, attempt: int) -> None:
            async with limit:
                run = await self.run_once(outcome.plan, attempt)
            outcome.runs.append(run)
            left[id(outcome)] -= 1
            if left[id(outcome)] == 0:
                outcome.runs.sort(key=lambda r: r.attempt)
                if self.on_done is not None:
                    self.on_done(outcome)

        try:
            async with asyncio.TaskGroup() as group:
                for outcome in outcomes:
                    for attempt in range(outcome.plan.repeat):
                        group.create_task(job(outcome, attempt), name=f"lkx-test-{attempt}")
        finally:
            for llm in warm:
                await llm.aclose()
            await self.judges.aclose()
            await self.audio.aclose()
        return outcomes

    async def run_once(self, plan: Plan, attempt: int) -> RunOutcome:
        outcome = RunOutcome(attempt)
        started = time.perf_counter()
        session = AgentSession(
            agent=plan.agent.copy(),
            room_id=f"lkx-test-{attempt}",
            user_data=dict(plan.variables),
            audio_output=PacedOutput(realtime=plan.audio and plan.barges_in),
            speak=plan.audio,
        )
        if plan.agent.spec.variables:  # checked at load (load.py): they fit
            fill_session(session, [("scenario variables", plan.variables)])
        try:
            driver = await self.audio.driver(plan) if plan.audio else TextDriver()
            if plan.simulated:
                from livekitex_cli.scenarios.caller import simulate

                await simulate(self, plan, session, driver, outcome)
            else:
                await self._turns(plan, session, driver, outcome)
        except ResourceError as exc:
            outcome.unavailable = str(exc)
            outcome.failure = Failure(plan.where("name"), f"unavailable: {exc}")
        except LkxError as exc:
            outcome.failure = Failure(plan.where("name"), str(exc))
        finally:
            await session.aclose()
            outcome.seconds = time.perf_counter() - started
        return outcome

    async def _turns(
        self, plan: Plan, session: AgentSession, driver: Driver, outcome: RunOutcome
    ) -> None:
        turns = plan.scenario.turns
        lines: list[str] = []  # the conversation so far, for the judge
        greeting = Recording(session)
        recording: Recording | None = greeting
        await session.start()
        if turns[0].text is not None:  # the greeting comes first, and is not the first turn
            timed_out = not await wait_turn(session, greeting, None, plan.timeout)
            outcome.turns.append(TurnLog(-1, None, finish(greeting, timed_out)))
            lines += [describe(e) for e in outcome.turns[-1].result.events]
            recording = None
        for number, turn in enumerate(turns):
            if recording is None:
                recording = Recording(session, turn.text)
                await driver.send(session, recording, turn)
            upcoming = turns[number + 1].send_after if number + 1 < len(turns) else None
            timed_out = not await wait_turn(session, recording, upcoming, plan.timeout)
            result = finish(recording, timed_out)
            recording = None
            log = TurnLog(number, turn.text, result, heard=_heard(result))
            outcome.turns.append(log)
            await driver.hear(session, result)
            if turn.text is not None:
                lines.append(f"user: {turn.text}")
            context = "\n".join(lines)

            async def grade(criterion: str, reply: str, context: str = context) -> Verdict:
                config = self.judge_for(plan)
                assert config is not None, "checked by preflight"
                return await self.judges.grade(
                    config, criterion=criterion, reply=reply, context=context
                )

            log.checks = await check_turn(turn.expect, result, grade)
            lines += [describe(e) for e in result.events]
            failed = next((c for c in log.checks if not c.passed), None)
            if failed is not None:
                where = plan.where("turns", number, "expect", failed.index)
                message = f"{failed.event}: {failed.message}"
                outcome.failure = Failure(where, message, number, failed.index, failed.at)
                return
            if timed_out:
                message = f"the agent was not done after {plan.timeout:g} s"
                outcome.failure = Failure(plan.where("turns", number), message, number)
                return


def _warm_llms(plans: Sequence[Plan]) -> list[LLM]:
    """One open LLM per distinct agent for the whole run, never used: the sessions that come
    and go meanwhile share its HTTP client (and TLS context, ~50 ms to build) instead of each
    building and closing its own. One that cannot be built is left to the sessions to report."""
    warm: list[LLM] = []
    for agent in {id(plan.agent): plan.agent for plan in plans}.values():
        provider = agent.spec.llm.provider if agent.spec.llm else "auto"
        try:
            options = agent.provider_options.get("llm") or agent.providers.options(
                "llm", provider, {}
            )
            warm.append(agent.providers.create("llm", provider, options))
        except LkxError:
            continue
    return warm


def finish(recording: Recording, timed_out: bool) -> RunResult:
    result = recording.finish()
    result.timed_out = timed_out
    return result


def _heard(result: RunResult) -> str | None:
    texts = [e.text for _, e in result.timeline if isinstance(e, UserTranscript)]
    return " ".join(texts) if texts else None


async def wait_turn(
    session: AgentSession, recording: Recording, trigger: SendAfter | None, timeout: float
) -> bool:
    """Until the agent is done, or until the next turn's ``send_after`` moment. False on
    timeout."""
    try:
        if trigger is None:
            await session.wait_idle(timeout)
        else:
            await recording.until(_trigger(trigger.event), timeout)
            await asyncio.sleep(trigger.delay_ms / 1000)
    except TimeoutError:
        return False
    return True


def _trigger(name: str) -> Callable[[SessionEvent], bool]:
    if name == "function_call":
        return lambda event: isinstance(event, ToolCallStarted)
    if name == "response":
        return lambda event: isinstance(event, AgentTextDelta | AgentAudio)
    return lambda event: isinstance(event, StateChanged) and event.new == name
