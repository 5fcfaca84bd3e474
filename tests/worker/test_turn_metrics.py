"""/metrics counts the turn-taking events sessions report: empty completions, stalled replies,
false interruptions."""

from __future__ import annotations

from pathlib import Path

from livekitex_cli.agent import load_agents
from livekitex_cli.worker import WorkerOptions
from livekitex_cli.worker.worker import Worker
from tests.worker.test_metrics import sample

ROOT = Path(__file__).resolve().parents[2]


def test_turn_events_are_counted() -> None:
    agents = load_agents([str(ROOT / "agents/support-agent.yaml")])
    options = WorkerOptions(
        agent_name="support-agent", server_url="ws://127.0.0.1:9", api_key="k", api_secret="s"
    )
    worker = Worker(agents=agents, options={"support-agent": options}, version="test")
    worker.record_turn({"empty_completions": 2, "stalled": True, "resumed": False})
    worker.record_turn({"empty_completions": 0, "stalled": False, "resumed": True})
    worker.record_turn({"vad_end_of_speech_delay_ms": 600.0})
    text = worker.metrics.exposition().decode()
    assert sample(text, "lkx_empty_completions_total") == 2
    assert sample(text, "lkx_stalled_replies_total") == 1
    assert sample(text, "lkx_false_interruptions_total") == 1
    assert sample(text, 'lkx_stage_latency_ms_count{stage="vad_end_of_speech_delay_ms"}') == 1


def test_pauses_held_are_counted_from_ended_jobs() -> None:
    agents = load_agents([str(ROOT / "agents/voice-assistant.yaml")])
    options = WorkerOptions(
        agent_name="voice-assistant", server_url="ws://127.0.0.1:9", api_key="k", api_secret="s"
    )
    worker = Worker(agents=agents, options={"voice-assistant": options}, version="test")
    worker.session_totals["pauses_held"] += 3  # what ended jobs' sessions reported
    text = worker.metrics.exposition().decode()
    assert sample(text, "lkx_turn_pauses_held_total") == 3
