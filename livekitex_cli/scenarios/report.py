"""What a test run produced, as text (transcripts, failures), JSON, JUnit XML and record files.
No Rich here: the CLI renders; these are plain strings and dicts."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from livekitex_cli.scenarios.runner import RunOutcome, ScenarioOutcome, TurnLog
from livekitex_cli.session.run_expect import describe


def transcript(run: RunOutcome, *, whole: bool = False) -> list[str]:
    """The conversation of one run, one line per item, ending with its failure or verdict.
    Unless ``whole``, a failed run is shown up to the event its failing expectation looked at."""
    lines: list[str] = []
    failure = run.failure
    for log in run.turns:
        stop = failure is not None and failure.turn == log.number and not whole
        lines.extend(_turn_lines(log, failure.at if stop and failure else None))
        if stop:
            break
    if failure is not None:
        lines.append(f"FAILED {failure.where}: {failure.message}")
    elif run.verdict is not None:
        lines.append(f"judge: {'pass' if run.verdict.passed else 'fail'}: {run.verdict.reason}")
    return lines


def _turn_lines(log: TurnLog, stop: int | None) -> list[str]:
    if log.number < 0:
        lines = ["(greeting)"]
    else:
        lines = [
            f"turn {log.number + 1}: user: {log.text}" if log.text else f"turn {log.number + 1}"
        ]
        if log.heard is not None:
            lines.append(f"  (the agent heard: {log.heard!r})")
    events = log.result.events
    for index, event in enumerate(events):
        if stop is not None and index > stop:
            break
        lines.append(f"  {describe(event)}  [+{event.at_ms - log.result.input_ms:.0f} ms]")
    if not events:
        lines.append("  (nothing)")
    return lines


def failure_text(outcome: ScenarioOutcome) -> str:
    run = outcome.first_failure
    if run is None:
        return ""
    head = f"{outcome.plan.id}"
    if len(outcome.runs) > 1:
        runs, needed = len(outcome.runs), outcome.plan.pass_rate
        rate = f"{outcome.passes}/{runs} runs passed, pass_rate {needed:g}"
        head += f" ({rate}; first failing run #{run.attempt + 1})"
    return "\n".join([head, *("  " + line for line in transcript(run))])


def run_json(run: RunOutcome) -> dict[str, Any]:
    return {
        "attempt": run.attempt,
        "passed": run.passed,
        "seconds": round(run.seconds, 4),
        "failure": None if run.failure is None else vars(run.failure),
        "unavailable": run.unavailable,
        "verdict": None if run.verdict is None else run.verdict.model_dump(by_alias=True),
        "turns": [
            {
                "turn": log.number,
                "user": log.text,
                "heard": log.heard,
                "input_ms": log.result.input_ms,
                "states": list(log.result.states),
                "events": [event.model_dump() for event in log.result.events],
                "checks": [
                    {
                        "expectation": check.index,
                        "event": check.event,
                        "passed": check.passed,
                        "message": check.message,
                        "verdict": check.verdict.model_dump(by_alias=True)
                        if check.verdict
                        else None,
                    }
                    for check in log.checks
                ],
            }
            for log in run.turns
        ],
    }


def to_json(outcomes: list[ScenarioOutcome], seconds: float) -> dict[str, Any]:
    return {
        "passed": all(o.passed for o in outcomes),
        "seconds": round(seconds, 3),
        "counts": {
            "scenarios": len(outcomes),
            "passed": sum(o.passed for o in outcomes),
            "failed": sum(not o.passed for o in outcomes),
        },
        "scenarios": [
            {
                "file": o.plan.file,
                "name": o.plan.name,
                "passed": o.passed,
                "pass_rate": o.plan.pass_rate,
                "runs_passed": o.passes,
                "runs": [run_json(run) for run in o.runs],
            }
            for o in outcomes
        ],
    }


def junit_xml(outcomes: list[ScenarioOutcome], seconds: float) -> str:
    suite = ET.Element(
        "testsuite",
        name="lkx test",
        tests=str(len(outcomes)),
        failures=str(sum(not o.passed for o in outcomes)),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for outcome in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=outcome.plan.file,
            name=outcome.plan.name,
            time=f"{outcome.seconds:.3f}",
        )
        failed = outcome.first_failure
        if not outcome.passed and failed is not None and failed.failure is not None:
            node = ET.SubElement(case, "failure", message=failed.failure.message)
            node.text = failure_text(outcome)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_records(outcomes: list[ScenarioOutcome], folder: Path) -> list[Path]:
    """One transcript per run: ``FOLDER/<file>/<scenario>[.N].txt`` and ``.json`` beside it."""
    written: list[Path] = []
    for outcome in outcomes:
        base = folder / _safe(Path(outcome.plan.file).name.removesuffix(".yaml"))
        base.mkdir(parents=True, exist_ok=True)
        for run in outcome.runs:
            stem = _safe(outcome.plan.name) + (
                f".{run.attempt + 1}" if len(outcome.runs) > 1 else ""
            )
            text = base / f"{stem}.txt"
            text.write_text("\n".join(transcript(run, whole=True)) + "\n", encoding="utf-8")
            data = base / f"{stem}.json"
            data.write_text(
                json.dumps(run_json(run), indent=2, default=str) + "\n", encoding="utf-8"
            )
            written += [text, data]
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "scenario"
