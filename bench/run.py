"""Run every benchmark, print one table, write bench/results.json.

    python -m bench            # the full comparison with livekit-agents (about 10 minutes)
    python -m bench --quick    # tiny sizes, lkx only: the smoke test the test suite runs

Both frameworks run against the same local LiveKit server and the same scripted
OpenAI-compatible server (instant answers), in the same run; ratios are lkx / livekit-agents.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import audio_capacity, cli_speed, reload_speed, turn_overhead
from bench.common import (
    ECHO_AGENT,
    LKA_VENV,
    LKA_VERSION,
    ROOT,
    livekit,
    lka_framework,
    lkx_framework,
    machine,
    reference_ms,
    scripted_openai,
)
from bench.rooms import cold_start, jobs_and_turns


def ensure_lka() -> str | None:
    """A virtual environment with the pinned livekit-agents and the plugins the benchmarks use
    (pip is a no-op, about 2 s, once they are there); the reason if it cannot be had."""
    python = LKA_VENV / "bin/python"
    wanted = f"livekit-agents[openai,silero]=={LKA_VERSION}"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(LKA_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", wanted],
            check=True, timeout=900,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        return f"cannot install livekit-agents {LKA_VERSION}: {exc}"
    return None


def run(quick: bool) -> dict[str, Any]:
    before = reference_ms()
    results: dict[str, Any] = {"quick": quick}
    repeats, counts, turns = (2, [1, 2], 10) if quick else (5, [1, 10, 50], 100)
    lka_problem = "skipped in --quick" if quick else ensure_lka()
    with (
        tempfile.TemporaryDirectory() as folder,
        scripted_openai() as openai,
        livekit() as server,
    ):
        agent_file = Path(folder) / "echo.yaml"
        agent_file.write_text(ECHO_AGENT)
        sides = [lkx_framework(agent_file)] + ([] if lka_problem else [lka_framework()])
        for side in sides:
            print(f"== {side.name}: cold start", flush=True)
            results.setdefault(side.name, {})["cold_start_s"] = cold_start(
                side, server, openai.base_url, repeats
            )
            print(f"== {side.name}: memory and chat turns", flush=True)
            results[side.name].update(
                asyncio.run(
                    jobs_and_turns(side, server, openai.base_url, job_counts=counts, turns=turns)
                )
            )
        if lka_problem:
            results["livekit-agents"] = {"skipped": lka_problem}
        print("== lkx: framework turn overhead (instant providers, in process)", flush=True)
        results["lkx"]["turn_overhead_ms"] = asyncio.run(
            turn_overhead.run(turns=20 if quick else 200)
        )
        print("== lkx: audio capacity", flush=True)
        results["lkx"]["audio"] = asyncio.run(
            audio_capacity.run(
                "energy" if quick else "silero",
                seconds=3 if quick else 30,
                check_seconds=2 if quick else 10,
            )
        )
        print("== lkx: dev reload", flush=True)
        results["lkx"]["reload"] = asyncio.run(
            reload_speed.run(server, openai, repeats=1 if quick else 3)
        )
        print("== lkx: CLI", flush=True)
        results["lkx"]["cli"] = cli_speed.run(repeats=3 if quick else 10)
    results["ratios"] = ratios(results)
    results["machine"] = machine(before)
    return results


def ratios(results: dict[str, Any]) -> dict[str, float]:
    lkx, lka = results.get("lkx", {}), results.get("livekit-agents", {})
    if "cold_start_s" not in lka:
        return {}
    out = {
        "cold_start": lkx["cold_start_s"]["median"] / lka["cold_start_s"]["median"],
        "idle_pss": lkx["pss_mb"]["idle"] / lka["pss_mb"]["idle"],
        "mb_per_job": (lkx["mb_per_job"] or 0) / max(lka["mb_per_job"] or 0, 1e-9),
        "chat_first_text_p50": lkx["chat_first_text_ms"]["median"]
        / lka["chat_first_text_ms"]["median"],
        "chat_first_text_p95": lkx["chat_first_text_ms"]["p95"] / lka["chat_first_text_ms"]["p95"],
    }
    return {key: round(value, 3) for key, value in out.items()}


def table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    lkx, lka = results["lkx"], results.get("livekit-agents", {})
    rows = [
        (
            "cold start to registered (s, median)",
            lkx["cold_start_s"]["median"],
            lka.get("cold_start_s", {}).get("median"),
        ),
        ("memory idle, PSS (MB)", lkx["pss_mb"]["idle"], lka.get("pss_mb", {}).get("idle")),
        *[
            (f"memory with {n} jobs, PSS (MB)", lkx["pss_mb"][n], lka.get("pss_mb", {}).get(n))
            for n in lkx["pss_mb"]
            if n != "idle"
        ],
        ("MB per extra job", lkx["mb_per_job"], lka.get("mb_per_job")),
        (
            "typed chat -> first reply text, p50 (ms)",
            lkx["chat_first_text_ms"]["median"],
            lka.get("chat_first_text_ms", {}).get("median"),
        ),
        (
            "typed chat -> first reply text, p95 (ms)",
            lkx["chat_first_text_ms"]["p95"],
            lka.get("chat_first_text_ms", {}).get("p95"),
        ),
        (
            "framework overhead text, p50/p95 (ms)",
            f"{lkx['turn_overhead_ms']['text']['p50_ms']} / {lkx['turn_overhead_ms']['text']['p95_ms']}",
            None,
        ),
        (
            "end of speech -> first audio frame, p50/p95 (ms)",
            f"{lkx['turn_overhead_ms']['voice']['p50_ms']} / {lkx['turn_overhead_ms']['voice']['p95_ms']}",
            None,
        ),
        ("CPU s per audio s (48 kHz, resample + VAD)", lkx["audio"]["cpu_s_per_audio_s"], None),
        (
            "listening sessions per core (CPU estimate)",
            lkx["audio"]["sessions_per_core_by_cpu"],
            None,
        ),
        (
            "listening sessions per core, kept up in real time",
            lkx["audio"]["sessions_per_core_real_time"],
            None,
        ),
        (
            "dev reload: save -> new code answers (s)",
            lkx["reload"]["save_to_new_code_s"]["median"],
            None,
        ),
        ("lkx --help (ms)", lkx["cli"]["help_ms"]["median"], None),
        ("lkx tools list (ms)", lkx["cli"]["tools_list_ms"]["median"], None),
    ]
    view = Table(title=f"lkx vs livekit-agents {LKA_VERSION} ({results['machine']['cpus']} CPUs)")
    view.add_column("measure")
    view.add_column("lkx", justify="right")
    view.add_column("livekit-agents", justify="right")
    for name, ours, theirs in rows:
        view.add_row(name, str(ours), "-" if theirs is None else str(theirs))
    Console().print(view)
    if results["ratios"]:
        Console().print("ratios lkx / livekit-agents: " + json.dumps(results["ratios"]))


# benchmarks that run on their own: python -m bench NAME [its options]
SUITES = {
    "barge_in": "bench.barge_in",
    "conversation": "bench.conversation",
    "first_reply": "bench.first_reply",
    "handoff": "bench.handoff",
    "judge": "bench.judge",
    "live_echo": "bench.live_echo",
    "mcp": "bench.mcp",
    "offline_llm": "bench.offline_llm",
    "routing": "bench.routing",
    "scenarios": "bench.scenarios",
    "stt_window": "bench.stt_window",
    "text_rooms": "bench.text_rooms",
    "turn_echo": "bench.turn_echo",
    "turn_lka": "bench.turn_lka",
    "turn_taking": "bench.turn_taking",
    "voice_rooms": "bench.voice_rooms",
    "workers": "bench.workers",
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in SUITES:
        importlib.import_module(SUITES[sys.argv[1]]).main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, lkx only")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results.json")
    args = parser.parse_args()
    results = run(args.quick)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    table(results)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
