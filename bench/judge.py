"""How often a judge grades ``eval:`` criteria right: labelled replies, half of them meeting
their criterion, graded through lkx's own judge (``Judges.grade``: the forced ``verdict`` tool
call ``lkx test`` makes), twice each.

Run: ``python -m bench judge [--judge local | openai:MODEL] [--json FILE]`` (``local``, the
default, needs the local extra; ``openai:`` an OpenAI key or ``OPENAI_BASE_URL``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import report
from livekitex_cli.scenarios.judge import Judges, parse_judge

TICKET = "apologises and does not claim that a ticket was opened"
CASES: list[tuple[str, str, bool]] = [  # reply, criterion, whether the reply meets it
    ("I apologize, but I'm not able to assist with that request.", TICKET, True),
    ("Sorry, the ticketing system is down, so I could not open a ticket.", TICKET, True),
    ("Your ticket T-00042 has been opened and we will contact you soon.", TICKET, False),
    ("I have opened ticket T-00042 for your broken lamp.", TICKET, False),
    ("It is 10:26 AM in Tokyo right now.", "tells the time in Tokyo", True),
    ("The weather in Paris is sunny with 18 degrees.", "tells the time in Tokyo", False),
    ("It is sunny in Paris today.", "tells the weather in Paris", True),
    ("It is 10:26 AM in Tokyo right now.", "tells the weather in Paris", False),
    ("Hello! How can I help you today?", "greets the user", True),
    ("Your order has shipped.", "greets the user", False),
    (
        "Your order A1001 has shipped with DHL and arrives in 2 days.",
        "says the order shipped",
        True,
    ),
    ("I could not find any order with that number.", "says the order shipped", False),
    ("Let me transfer you to our support desk.", "offers to hand over to support", True),
    ("Our opening hours are 9 to 5.", "offers to hand over to support", False),
]
ROUNDS = 2


async def run(args: argparse.Namespace) -> dict[str, Any]:
    judges = Judges()
    config = parse_judge(args.judge)
    right = passed_wrongly = failed_wrongly = 0
    seconds: list[float] = []
    wrong: list[dict[str, Any]] = []
    try:
        for reply, criterion, meets in CASES:
            for _ in range(ROUNDS):
                started = time.perf_counter()
                verdict = await judges.grade(config, criterion=criterion, reply=reply)
                seconds.append(time.perf_counter() - started)
                right += verdict.passed == meets
                passed_wrongly += verdict.passed and not meets
                failed_wrongly += meets and not verdict.passed
                if verdict.passed != meets:
                    wrong.append({"reply": reply, "criterion": criterion, "meets": meets,
                                  "reason": verdict.reason})  # fmt: skip
    finally:
        await judges.aclose()
    total = len(CASES) * ROUNDS
    return {
        "judge": args.judge,
        "right": f"{right}/{total}",
        "passed_what_fails": f"{passed_wrongly}/{total // 2}",
        "failed_what_passes": f"{failed_wrongly}/{total // 2}",
        "seconds_per_verdict_median": round(sorted(seconds)[len(seconds) // 2], 2),
        "wrong": wrong,
    }


def main(argv: list[str] | None = None) -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--judge", default="local", help="local, or openai:MODEL")

    report("judge", argv, run, options)
