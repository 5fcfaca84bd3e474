"""The runner's verdicts, both ways: for every kind of expectation a scenario that must pass
passes (exit 0) and one that must fail fails (exit 1) with the reason and the expectation's
line. The agent talks over HTTP to the scripted OpenAI-compatible server; the judge too."""

from __future__ import annotations

from pathlib import Path

import pytest

from livekitex_cli.testing import Hang, Status, Text, ToolCalls
from livekitex_cli.testing.openai_server import Step
from tests.scenarios.conftest import JUDGE, RuleServer, graded, line_of, lkx_test, scenario_file

WEATHER = 'call get_weather {"city": "Paris"}'
SLOW = Text("Once upon a time there was a long story that went on and on and on.", 4, 0.05)

# (id, steps pushed to the server, scenario body, exit code, text the output must hold,
#  text of the line the failure must point at)
CASES: list[tuple[str, list[Step], str, int, str, str]] = [
    (
        "greeting",
        [],
        """
     - name: s
       turns:
         - expect: [{event: response, text_contains: test agent}]
     """,
        0,
        "1 passed, 0 failed",
        "",
    ),
    (
        "greeting-wrong",
        [],
        """
     - name: s
       turns:
         - expect: [{event: response, text_contains: goodbye}]
     """,
        1,
        "the response lacks 'goodbye'",
        "text_contains: goodbye",
    ),
    (
        "text_contains",
        [Text("It is 18 degrees and Sunny.")],
        """
     - name: s
       turns:
         - user: weather?
           expect: [{event: response, text_contains: ["18", "sunny"]}]
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "text_contains-missing",
        [Text("It is 18 degrees and cloudy.")],
        """
     - name: s
       turns:
         - user: weather?
           expect: [{event: response, text_contains: ["18", "sunny"]}]
     """,
        1,
        "lacks 'sunny'",
        'text_contains: ["18", "sunny"]',
    ),
    (
        "text_not_contains",
        [Text("All good.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: response, text_not_contains: [sorry]}]
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "text_not_contains-present",
        [Text("Sorry, I cannot.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: response, text_not_contains: [sorry]}]
     """,
        1,
        "contains 'sorry'",
        "text_not_contains",
    ),
    (
        "text_matches",
        [Text("Your ticket is T-00042.")],
        """
     - name: s
       turns:
         - user: ticket?
           expect: [{event: response, text_matches: 'T-\\d{5}'}]
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "text_matches-no",
        [Text("Your ticket is on its way.")],
        """
     - name: s
       turns:
         - user: ticket?
           expect: [{event: response, text_matches: 'T-\\d{5}'}]
     """,
        1,
        "does not match /T-\\d{5}/",
        "text_matches",
    ),
    (
        "within_ms",
        [Text("Quick.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: response, within_ms: 3000}]
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "within_ms-late",
        [Hang(0.6)],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: response, within_ms: 300}]
     """,
        1,
        "over within_ms 300",
        "within_ms: 300",
    ),
    (
        "response-none",
        [Hang(3)],
        """
     - name: s
       timeout: 1
       turns:
         - user: hi
           expect: [{event: response}]
     """,
        1,
        "expected a response, but the agent said nothing more",
        "event: response",
    ),
    (
        "function_call",
        [],
        f"""
     - name: s
       turns:
         - user: '{WEATHER}'
           expect:
             - event: function_call
               calls: [{{name: get_weather, arguments: {{city: Paris}}}}]
               count: 1
             - event: response
               text_contains: Paris
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "function_call-arguments",
        [],
        f"""
     - name: s
       turns:
         - user: '{WEATHER}'
           expect:
             - event: function_call
               calls: [{{name: get_weather, arguments: {{city: Berlin}}}}]
     """,
        1,
        'city: expected "Berlin", got "Paris"',
        "event: function_call",
    ),
    (
        "function_call-name",
        [],
        f"""
     - name: s
       turns:
         - user: '{WEATHER}'
           expect: [{{event: function_call, calls: [{{name: get_time}}]}}]
     """,
        1,
        'expected get_time, got get_weather({"city": "Paris"})',
        "event: function_call",
    ),
    (
        "function_call-none",
        [Text("No tools today.")],
        """
     - name: s
       turns:
         - user: weather?
           expect: [{event: function_call, calls: [{name: get_weather}]}]
     """,
        1,
        "expected a function call, but none was made before the reply 'No tools today.'",
        "event: function_call",
    ),
    (
        "function_call-count",
        [ToolCalls([("get_weather", '{"city": "Paris"}'), ("get_time", '{"city": "Paris"}')])],
        """
     - name: s
       turns:
         - user: both
           expect:
             - event: function_call
               calls: [{name: get_time}, {name: get_weather, arguments: {city: Paris}}]
               count: 2
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "function_call-count-wrong",
        [ToolCalls([("get_weather", '{"city": "Paris"}'), ("get_time", '{"city": "Paris"}')])],
        """
     - name: s
       turns:
         - user: both
           expect: [{event: function_call, count: 1}]
     """,
        1,
        "expected 1 function calls, got 2",
        "count: 1",
    ),
    (
        "no_function_call",
        [Text("Hello.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: no_function_call}, {event: response}]
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "no_function_call-called",
        [],
        f"""
     - name: s
       turns:
         - user: '{WEATHER}'
           expect: [{{event: no_function_call, names: [get_weather]}}]
     """,
        1,
        'expected no function call, got -> get_weather({"city": "Paris"})',
        "no_function_call",
    ),
    (
        "interrupted",
        [SLOW, Text("Sure, stopping.")],
        """
     - name: s
       turns:
         - user: tell me a story
         - user: stop
           send_after: {event: speaking, delay_ms: 150}
           expect:
             - event: interrupted
             - event: response
               text_contains: stopping
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "interrupted-finished",
        [Text("Short story."), Text("Okay.")],
        """
     - name: s
       turns:
         - user: tell me a story
         - user: stop
           send_after: {event: speaking, delay_ms: 800}
           expect: [{event: interrupted}]
     """,
        1,
        "expected the agent to be interrupted, but its reply finished: 'Okay.'",
        "event: interrupted",
    ),
    (
        "error",
        [Status(500), Status(500), Status(500)],
        """
     - name: s
       turns:
         - user: hi
           expect:
             - {event: error, text_contains: "500"}
             - {event: response, text_contains: Sorry}
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "error-none",
        [Text("Fine.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: error}]
     """,
        1,
        "expected an error, but none was reported",
        "event: error",
    ),
    (
        "state",
        [Text("Fine.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: state, states: [thinking, speaking, listening]}]
     """,
        0,
        "1 passed",
        "",
    ),
    (
        "state-order",
        [Text("Fine.")],
        """
     - name: s
       turns:
         - user: hi
           expect: [{event: state, states: [speaking, thinking]}]
     """,
        1,
        "expected states speaking -> thinking, saw thinking -> speaking -> listening",
        "event: state",
    ),
    (
        "order-matters",
        [ToolCalls([("get_weather", '{"city": "Paris"}')])],
        """
     - name: s
       turns:
         - user: weather
           expect: [{event: response}, {event: function_call}]
     """,
        1,
        "function_call: expected a function call, but none was made",
        "event: function_call",
    ),
    (
        "repeat-pass-rate",
        [Text("yes"), Text("no"), Text("yes"), Text("no")],
        """
     - name: s
       repeat: 4
       pass_rate: 0.5
       turns:
         - user: hi
           expect: [{event: response, text_contains: "yes"}]
     """,
        0,
        "2/4",
        "",
    ),
    (
        "repeat-pass-rate-short",
        [Text("yes"), Text("no"), Text("yes"), Text("no")],
        """
     - name: s
       repeat: 4
       pass_rate: 0.75
       turns:
         - user: hi
           expect: [{event: response, text_contains: "yes"}]
     """,
        1,
        "2/4 runs passed, pass_rate 0.75",
        "text_contains",
    ),
    (
        "timeout",
        [Hang(3)],
        """
     - name: s
       timeout: 1
       turns:
         - user: hi
     """,
        1,
        "the agent was not done after 1 s",
        "- user: hi",
    ),
]


@pytest.mark.parametrize(
    ("steps", "body", "code", "shown", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verdict(
    server: RuleServer,
    agent_file: Path,
    steps: list[Step],
    body: str,
    code: int,
    shown: str,
    line: str,
) -> None:
    path = scenario_file(agent_file.parent, body)
    server.push(*steps)
    result = lkx_test(str(path), "--jobs", "1")
    assert result.exit_code == code, result.output
    assert shown in result.output
    if code:
        assert f"FAILED {path}:{line_of(path, line)}: " in result.output


EVAL = """
- name: s
  turns:
    - user: weather?
      expect: [{event: response, eval: "says the weather is sunny"}]
"""


@pytest.mark.parametrize(("reply", "code"), [("It is sunny in Paris.", 0), ("It is raining.", 1)])
def test_eval_is_judged(server: RuleServer, agent_file: Path, reply: str, code: int) -> None:
    server.judge = lambda question: ("sunny" in graded(question), "checked for sunny")
    server.push(Text(reply))
    path = scenario_file(agent_file.parent, EVAL, head=JUDGE)
    result = lkx_test(str(path))
    assert result.exit_code == code, result.output
    assert len(server.judge_questions) == 1
    assert (
        reply in server.judge_questions[0]
        and "says the weather is sunny" in server.judge_questions[0]
    )
    if code:
        assert (
            "the judge says it does not 'says the weather is sunny': checked for sunny"
            in result.output
        )


def test_eval_without_a_judge_is_exit_6(server: RuleServer, agent_file: Path) -> None:
    path = scenario_file(agent_file.parent, EVAL)
    result = lkx_test(str(path))
    assert result.exit_code == 6, result.output
    assert "'s' needs a judge" in result.output and f"{path}:" in result.output


def test_unreachable_judge_is_exit_6(server: RuleServer, agent_file: Path) -> None:
    head = "judge: {provider: openai, base_url: 'http://127.0.0.1:9/v1', max_retries: 0}\n"
    path = scenario_file(agent_file.parent, EVAL, head=head)
    result = lkx_test(str(path))
    assert result.exit_code == 6, result.output
    assert "judge" in result.output


def test_judge_option_wins_and_no_eval_needs_no_judge(server: RuleServer, agent_file: Path) -> None:
    server.judge = lambda question: (False, "never")
    path = scenario_file(
        agent_file.parent,
        EVAL,
        head="judge: {provider: openai, base_url: 'http://127.0.0.1:9/v1'}\n",
    )
    result = lkx_test(str(path), "--judge", "openai:scripted-judge")
    assert result.exit_code == 1, result.output
    assert "the judge says it does not" in result.output and ": never" in result.output
    plain = scenario_file(
        agent_file.parent, "- name: p\n  turns: [{user: hi}]\n", name="plain.test.yaml"
    )
    assert lkx_test(str(plain), "--judge", "nosuch").exit_code == 0  # not needed, not built


@pytest.mark.local_models
def test_the_bundled_local_judge_is_named_as_too_weak_to_trust(
    server: RuleServer, agent_file: Path
) -> None:
    """It grades for real (the bundled model, loaded), and the run says what its verdicts are
    worth: 12 of 28 right in ``python -m bench judge``. A judge given a model of one's own is
    not named."""
    pytest.importorskip("xllamacpp", reason="the local extra is not installed")
    server.push(Text("It is sunny in Paris."))
    path = scenario_file(agent_file.parent, EVAL)
    result = lkx_test(str(path), "--judge", "local")
    assert result.exit_code in (0, 1), result.output  # whatever it decided
    assert "note: the judge is the bundled local model, too small to grade" in result.output
    assert "python -m bench judge" in result.output
    server.push(Text("It is sunny in Paris."))
    result = lkx_test(str(path), "--judge", "openai:scripted-judge")
    assert "too small to grade" not in result.output


def test_judge_that_fails_while_grading_is_exit_6(server: RuleServer, agent_file: Path) -> None:
    server.push(Text("It is sunny."), Status(401, "bad key"))
    path = scenario_file(agent_file.parent, EVAL, head=JUDGE)
    result = lkx_test(str(path))
    assert result.exit_code == 6, result.output
    assert "unavailable: judge:" in result.output
