"""What ``lkx test`` writes (JUnit XML, JSON, transcripts), how ``-k`` selects and how
``--jobs`` runs scenarios side by side."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from livekitex_cli import ToolRegistry, function_tool
from livekitex_cli.scenarios.suite import load_plans, run_plans
from livekitex_cli.testing import Text
from tests.scenarios.conftest import AGENT, RuleServer, lkx_test, scenario_file

TWO = """\
- name: good one
  turns:
    - user: hello
      expect: [{event: response, text_contains: "You said: hello"}]
- name: bad one
  turns:
    - user: hello
      expect: [{event: response, text_contains: "goodbye"}]
"""


def test_junit_json_and_records(server: RuleServer, agent_file: Path) -> None:
    folder = agent_file.parent
    scenario_file(folder, TWO)
    scenario_file(folder, "- name: other\n  turns: [{user: hi}]\n", name="more.test.yaml")
    junit, data, records = folder / "junit.xml", folder / "out.json", folder / "records"
    result = lkx_test(
        str(folder),
        "--jobs",
        "3",
        "--junit",
        str(junit),
        "--json",
        str(data),
        "--record",
        str(records),
    )
    assert result.exit_code == 1, result.output
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"good one", "bad one", "other"}
    failure = cases["bad one"].find("failure")
    assert failure is not None and "the response lacks 'goodbye'" in failure.get("message", "")
    assert "turn 1: user: hello" in (failure.text or "")
    assert cases["good one"].find("failure") is None
    report = json.loads(data.read_text())
    assert report["counts"] == {"scenarios": 3, "passed": 2, "failed": 1}
    bad = next(s for s in report["scenarios"] if s["name"] == "bad one")
    turn = bad["runs"][0]["turns"][-1]
    assert turn["events"][0]["type"] == "message" and turn["events"][0]["text"] == "You said: hello"
    assert turn["checks"][0]["passed"] is False
    assert bad["runs"][0]["failure"]["where"].endswith(":10")
    assert (records / "case.test/good-one.txt").read_text().startswith("(greeting)\n")
    assert "FAILED" in (records / "case.test/bad-one.txt").read_text()
    assert json.loads((records / "more.test/other.json").read_text())["passed"] is True
    summary = result.output[result.output.index("lkx test") :]
    assert "2 passed, 1 failed" in summary


@pytest.mark.parametrize(
    ("pattern", "code", "ran"),
    [
        ("good", 0, ["good one"]),
        ("not good", 1, ["bad one"]),
        ("case.test.yaml::", 1, ["good one", "bad one"]),
    ],
    ids=["only", "negated", "by-file"],
)
def test_k_selects(
    server: RuleServer, agent_file: Path, pattern: str, code: int, ran: list[str]
) -> None:
    path = scenario_file(agent_file.parent, TWO)
    result = lkx_test(str(path), "-k", pattern)
    assert result.exit_code == code, result.output
    shown = [
        line.split("::")[1].split(" (")[0]
        for line in result.output.splitlines()
        if line.startswith(("PASS ", "FAIL "))
    ]
    assert sorted(shown) == sorted(ran)


MEETING: dict[str, object] = {}


@function_tool
async def meet() -> str:
    """Wait (up to 2 s) until three calls are here at once."""
    arrived: list[asyncio.Event] = MEETING.setdefault("arrived", [])  # type: ignore[assignment]
    everyone = asyncio.Event()
    arrived.append(everyone)
    if len(arrived) == 3:
        for event in arrived:
            event.set()
    try:
        await asyncio.wait_for(everyone.wait(), 2)
    except TimeoutError:
        arrived.remove(everyone)  # gone: a later call does not meet this one
        return "alone"
    return "met"


@pytest.mark.parametrize(("jobs", "said"), [(3, "met"), (1, "alone")])
async def test_jobs_run_scenarios_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int, said: str
) -> None:
    MEETING.clear()
    (tmp_path / "agent.yaml").write_text(
        AGENT.replace("[get_weather, get_time, lookup_order, create_ticket]", "[meet]")
    )
    body = "".join(
        f"- name: s{i}\n  turns: [{{user: call meet, expect: [{{event: response, text_contains: {said}}}]}}]\n"
        for i in range(3)
    )
    path = scenario_file(tmp_path, body)
    async with RuleServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        report = await run_plans(load_plans([path], tools=ToolRegistry([meet])), jobs=jobs)
    assert [o.passed for o in report.outcomes] == [True, True, True]


def test_output_file_that_cannot_be_written(server: RuleServer, agent_file: Path) -> None:
    path = scenario_file(agent_file.parent, "- name: a\n  turns: [{user: hi}]\n")
    result = lkx_test(str(path), "--json", str(agent_file.parent / "no/such/folder/out.json"))
    assert result.exit_code == 1
    assert "error: cannot write" in result.output and "No such file or directory" in result.output


def test_text_replies_keep_their_order_with_pushed_steps(
    server: RuleServer, agent_file: Path
) -> None:
    server.push(Text("first"), Text("second"))
    path = scenario_file(
        agent_file.parent,
        "- name: a\n  turns:\n    - user: one\n      expect: [{event: response, text_contains: first}]\n    - user: two\n      expect: [{event: response, text_contains: second}]\n",
    )
    assert lkx_test(str(path)).exit_code == 0
