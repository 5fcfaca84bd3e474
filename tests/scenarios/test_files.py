"""Bad scenario files: every problem on one line, ``file:line: field: reason``, exit code 1,
before anything runs (no server is needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios.conftest import AGENT, lkx_test

# (id, file text, the text of the line each problem points at, what each problem says)
CASES: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "unknown top-level key",
        """\
agent: agent.yaml
jduge: {provider: openai}
scenarios:
  - name: a
    turns: [{user: hi}]
""",
        [("jduge:", "jduge: unknown field 'jduge' (did you mean 'judge'?)")],
    ),
    (
        "unknown event",
        """\
agent: agent.yaml
scenarios:
  - name: a
    turns:
      - user: hi
        expect:
          - event: respose
""",
        [
            (
                "event: respose",
                "scenarios[0].turns[0].expect[0].event: unknown event 'respose' (did you mean 'response'?); one of: response, function_call, no_function_call, interrupted, error, state",
            )
        ],
    ),
    (
        "unknown expectation field",
        """\
agent: agent.yaml
scenarios:
  - name: a
    turns:
      - user: hi
        expect:
          - event: response
            text_contain: hello
""",
        [
            (
                "text_contain:",
                "scenarios[0].turns[0].expect[0].text_contain: unknown field 'text_contain' (did you mean 'text_contains'?)",
            )
        ],
    ),
    (
        "missing event",
        """\
agent: agent.yaml
scenarios:
  - name: a
    turns:
      - user: hi
        expect:
          - text_contains: hello
""",
        [("text_contains: hello", "scenarios[0].turns[0].expect[0]: needs 'event:'")],
    ),
    (
        "missing agent file",
        """\
agent: nowhere/agent.yaml
scenarios:
  - name: a
    turns: [{user: hi}]
""",
        [("agent: nowhere", "agent: agent file not found: ")],
    ),
    (
        "unknown tool in calls",
        """\
agent: agent.yaml
scenarios:
  - name: a
    turns:
      - user: hi
        expect:
          - event: function_call
            calls:
              - name: get_wether
""",
        [
            (
                "name: get_wether",
                "scenarios[0].turns[0].expect[0].calls[0].name: the agent offers no tool 'get_wether' (did you mean 'get_weather'?)",
            )
        ],
    ),
    (
        "unknown tool in mocks and no_function_call",
        """\
agent: agent.yaml
mocks:
  lookup_ordr: {result: 1}
scenarios:
  - name: a
    turns:
      - user: hi
        expect: [{event: no_function_call, names: [create_tiket]}]
""",
        [
            (
                "lookup_ordr",
                "mocks.lookup_ordr: the agent offers no tool 'lookup_ordr' (did you mean 'lookup_order'?)",
            ),
            (
                "create_tiket",
                "scenarios[0].turns[0].expect[0].names[0]: the agent offers no tool 'create_tiket'",
            ),
        ],
    ),
    (
        "bad values, all at once",
        """\
agent: agent.yaml
repeat: 0
scenarios:
  - name: a
    turns:
      - user: hi
        expect:
          - {event: response, text_matches: "(unclosed", within_ms: -5}
          - {event: state, states: [dancing]}
""",
        [
            ("repeat: 0", "repeat: input should be greater than or equal to 1"),
            ("(unclosed", "text_matches: not a regular expression"),
            ("(unclosed", "within_ms: input should be greater than 0"),
            ("dancing", "states[0]: input should be 'listening', 'thinking' or 'speaking'"),
        ],
    ),
    (
        "turn shapes",
        """\
agent: agent.yaml
scenarios:
  - name: a
    turns:
      - user: hi
      - expect: [{event: response}]
      - user: x
        say: y
      - user: z
        send_after: {event: speaking}
  - name: a
    turns:
      - send_after: {event: thinking}
        expect: [{event: response}]
  - name: b
    persona: a busy person
    turns: [{user: hi}]
""",
        [
            (
                "- expect: [{event: response}]",
                "scenarios[0].turns[1]: needs user: (only the first turn may wait for the greeting)",
            ),
            ("say: y", "scenarios[0].turns[2].say: user: and say: are the same thing; give one"),
            (
                "- name: a\n    turns:\n      - send_after",
                "scenarios[1].name: 'a' is used twice in this file",
            ),
            (
                "- send_after: {event: thinking}",
                "scenarios[1].turns[0].send_after: only a later turn with user: can be sent during the previous one",
            ),
            ("- name: b", "scenarios[2].name: a simulated caller needs goal: too"),
            ("- name: b", "scenarios[2].name: a simulated caller needs success: too"),
            (
                'turns: [{user: hi}]\n"""',
                "scenarios[2].turns: give turns: or a simulated caller, not both",
            ),
        ],
    ),
    (
        "invalid yaml",
        "agent: agent.yaml\nscenarios:\n  - name: a: b\n",
        [("name: a: b", "invalid YAML: mapping values are not allowed here")],
    ),
    ("empty", "", [("", "the top level must be a mapping of fields, not empty")]),
    (
        "judge options",
        """\
agent: agent.yaml
judge: {provider: openai, modle: x}
scenarios:
  - name: a
    turns: [{user: hi}]
""",
        [("modle", "judge.modle: unknown field 'modle' (did you mean 'model'?)")],
    ),
]


@pytest.mark.parametrize(("text", "problems"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file(tmp_path: Path, text: str, problems: list[tuple[str, str]]) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    path = tmp_path / "bad.test.yaml"
    path.write_text(text)
    result = lkx_test(str(path))
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(problems), result.output
    for (where, says), error in zip(problems, sorted(errors, key=_line), strict=True):
        line = _find(text, where) if where else 1
        assert error.startswith(f"error: {path}:{line}"), (error, line)
        assert says in error


def _find(text: str, where: str) -> int:
    """The line where ``where`` (which may span lines; ``where`` ending in three quotes: at the
    end of the file) begins in ``text``."""
    if where.endswith('\n"""'):
        where = where[: -len('\n"""')]
        return text[: text.rindex(where)].count("\n") + 1
    return text[: text.index(where)].count("\n") + 1


def _line(error: str) -> int:
    return int(error.split(":")[2]) if error.split(":")[2].isdigit() else 0


def test_scenario_line_names_the_problem_with_the_persona(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    path = tmp_path / "sim.test.yaml"
    path.write_text("agent: agent.yaml\nscenarios:\n  - name: a\n    persona: a caller\n")
    result = lkx_test(str(path))
    assert result.exit_code == 1
    assert (
        f"error: {path}:3: scenarios[0].name: a simulated caller needs goal: too" in result.output
    )
    assert "needs success: too" in result.output


def test_invalid_agent_file_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT.replace("instructions:", "instruction:"))
    path = tmp_path / "a.test.yaml"
    path.write_text("agent: agent.yaml\nscenarios:\n  - name: a\n    turns: [{user: hi}]\n")
    result = lkx_test(str(path))
    assert result.exit_code == 1
    assert (
        f"error: {path}:1: agent: agent file {tmp_path / 'agent.yaml'} is not valid"
        in result.output
    )
    assert (
        f"error: {tmp_path / 'agent.yaml'}:2: instruction: unknown field 'instruction' (did you mean 'instructions'?)"
        in result.output
    )


def test_audio_needs_a_listening_agent_and_greeting_turn_needs_a_greeting(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        AGENT.replace("greeting: Hello, I am the test agent.\n", "")
    )
    path = tmp_path / "a.test.yaml"
    path.write_text(
        "agent: agent.yaml\nuser: {modality: audio}\nscenarios:\n  - name: a\n    turns:\n      - expect: [{event: response}]\n"
    )
    result = lkx_test(str(path))
    assert result.exit_code == 1
    assert f"error: {path}:2: user: modality audio needs an agent with stt:" in result.output
    assert (
        f"error: {path}:6: scenarios[0].turns[0]: the first turn has no user: and the agent has no greeting"
        in result.output
    )


def test_no_files_and_no_match(tmp_path: Path) -> None:
    result = lkx_test(str(tmp_path))
    assert result.exit_code == 1
    assert "no scenario files (*.test.yaml) under" in result.output
    (tmp_path / "agent.yaml").write_text(AGENT)
    (tmp_path / "a.test.yaml").write_text(
        "agent: agent.yaml\nscenarios:\n  - name: a\n    turns: [{user: hi}]\n"
    )
    result = lkx_test(str(tmp_path), "-k", "zzz")
    assert result.exit_code == 1
    assert "no scenario matches -k 'zzz'" in result.output


def test_env_fills_the_agent_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LKX_TEST_MODEL", raising=False)
    (tmp_path / "agent.yaml").write_text(
        AGENT.replace("model: scripted", "model: '${LKX_TEST_MODEL}'")
    )
    body = "agent: agent.yaml\n{env}scenarios:\n  - name: a\n    turns: [{{user: hi}}]\n"
    path = tmp_path / "a.test.yaml"
    path.write_text(body.format(env=""))
    result = lkx_test(str(path))
    assert result.exit_code == 1
    assert (
        f"error: {tmp_path / 'agent.yaml'}:5: llm.model: environment variable 'LKX_TEST_MODEL' is not set"
        in result.output
    )
    path.write_text(body.format(env="env: {LKX_TEST_MODEL: scripted}\n"))
    from livekitex_cli.scenarios.suite import load_plans

    plan = load_plans([path])[0]
    assert plan.agent.provider_options["llm"].model == "scripted"  # type: ignore[attr-defined]
