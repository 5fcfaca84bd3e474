"""What ``python -m bench text_rooms`` derives from its steps, and its printed table."""

from __future__ import annotations

from typing import Any

GOAL_P95_MS = 300  # issue #15: typed chat held at p95 under this


def above_floor(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per N: each side's p50/p95 minus the floor's, and lkx's over livekit-agents' of those."""
    by = {(s["framework"], s["rooms"]): s.get("turn_ms") for s in steps}
    served = {(s["framework"], s["rooms"]): s.get("rooms_with_agent") for s in steps}
    out: dict[str, Any] = {}
    for rooms in sorted({s["rooms"] for s in steps}):
        base = by.get(("floor", rooms))
        if not base:
            continue
        row: dict[str, Any] = {"floor_p50_ms": base["median"], "floor_p95_ms": base["p95"]}
        for side in ("lkx", "livekit-agents"):
            if ours := by.get((side, rooms)):
                row[f"{side}_rooms_with_agent"] = served[(side, rooms)]
                row[f"{side}_above_p50_ms"] = round(ours["median"] - base["median"], 1)
                row[f"{side}_above_p95_ms"] = round(ours["p95"] - base["p95"], 1)
        for q in ("p50", "p95"):
            lkx, lka = row.get(f"lkx_above_{q}_ms"), row.get(f"livekit-agents_above_{q}_ms")
            if lkx is not None and lka:
                row[f"ratio_{q}_lkx_over_lka"] = round(lkx / lka, 3)
        out[str(rooms)] = row
    return out


def held(steps: list[dict[str, Any]]) -> dict[str, int]:
    """Per side, the most rooms held: every agent came, nothing lost, p95 under the goal."""
    best: dict[str, int] = {}
    for s in steps:
        ok = s.get("turn_ms") and s.get("rooms_failed") == 0 and s.get("turns_lost") == 0
        if ok and s.get("turns_not_sent") == 0 and s["turn_ms"]["p95"] < GOAL_P95_MS:
            best[s["framework"]] = max(best.get(s["framework"], 0), s["rooms"])
    return best


def table(result: dict[str, Any]) -> None:
    print("N | side | rooms | p50 ms | p95 ms | lost+unsent | refused | worker CPU% (/room, "
          "ms/turn) | PSS MB | chatters CPU% (busiest, ms/turn) | server CPU% | load")  # fmt: skip
    for s in result["steps"]:
        turn, get = s.get("turn_ms") or {}, s.get
        print(" | ".join(str(x) for x in (
            s["rooms"], s["framework"], f"{get('rooms_with_agent', '-')}/{s['rooms']}",
            turn.get("median", "-"), turn.get("p95", "-"),
            f"{get('turns_lost', '-')}+{get('turns_not_sent', '-')}", get("dispatches_refused"),
            f"{get('worker_cpu_percent')} ({get('worker_cpu_percent_per_room')}, "
            f"{get('worker_cpu_ms_per_turn')})", get("worker_pss_mb"),
            f"{get('chatters_cpu_percent')} ({get('chatters_cpu_percent_busiest')}, "
            f"{get('chatters_cpu_ms_per_turn')})", get("server_cpu_percent"), s["load_average_1m"],
        )) + ("  ERRORS" if get("errors") else ""))  # fmt: skip
    print("above the floor (ms): N | lkx p50/p95 | livekit-agents p50/p95 (rooms it served) | "
          "lkx/lka p50/p95")  # fmt: skip
    for rooms, row in result["above_floor"].items():
        print(" | ".join(str(x) for x in (
            rooms, f"{row.get('lkx_above_p50_ms', '-')}/{row.get('lkx_above_p95_ms', '-')}",
            f"{row.get('livekit-agents_above_p50_ms', '-')}/"
            f"{row.get('livekit-agents_above_p95_ms', '-')} "
            f"({row.get('livekit-agents_rooms_with_agent', '-')})",
            f"{row.get('ratio_p50_lkx_over_lka', '-')}/{row.get('ratio_p95_lkx_over_lka', '-')}",
        )))  # fmt: skip
    print(f"held (every agent, 0 lost, p95 < {GOAL_P95_MS} ms): {result['held']}", flush=True)
