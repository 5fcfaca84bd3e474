"""/metrics through prometheus_client: counters never go down and histograms count every turn
(the old exposition computed them from the last 10,000 values, so after that many turns the
count stood still and the sum could fall)."""

from __future__ import annotations

import re
from pathlib import Path

from livekitex_cli.agent import load_agents
from livekitex_cli.worker import WorkerOptions
from livekitex_cli.worker.worker import Worker

ROOT = Path(__file__).resolve().parents[2]


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match is not None, name
    return float(match.group(1))


def test_histograms_count_every_turn_and_never_go_down() -> None:
    agents = load_agents([str(ROOT / "agents/support-agent.yaml")])
    options = WorkerOptions(
        agent_name="support-agent", server_url="ws://127.0.0.1:9", api_key="k", api_secret="s"
    )
    worker = Worker(agents=agents, options={"support-agent": options}, version="test")
    count = 'lkx_stage_latency_ms_count{stage="llm_ttft_ms"}'
    total = 'lkx_stage_latency_ms_sum{stage="llm_ttft_ms"}'
    seen: list[tuple[float, float]] = []
    for batch in range(3):
        for _ in range(5_000):
            worker.record_turn({"llm_ttft_ms": 100.0 + batch, "response_time_ms": 200.0})
        text = worker.metrics.exposition().decode()
        seen.append((sample(text, count), sample(text, total)))
    assert [c for c, _ in seen] == [5_000, 10_000, 15_000]
    assert seen[0][1] < seen[1][1] < seen[2][1]
    assert sample(text, 'lkx_stage_latency_ms_bucket{le="100.0",stage="llm_ttft_ms"}') == 5_000
    worker.metrics.job_ended("success")
    assert sample(worker.metrics.exposition().decode(), 'lkx_jobs_total{outcome="success"}') == 1
