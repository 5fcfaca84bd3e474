"""Property-based bad input: whatever arrives, a clear error or a result, never a crash."""

from __future__ import annotations

import asyncio
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from livekitex_cli import Agent, LkxError, ToolRegistry, ValidationError, function_tool
from livekitex_cli.cli import app
from livekitex_cli.errors import InvalidFileError
from livekitex_cli.tools import run_tool
from tests.faults.tally import TALLY

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "agents/voice-assistant.yaml").read_text()
FIELDS = [
    "name", "instructions", "greeting", "tools", "llm", "stt", "tts", "vad",
    "allow_interruptions", "min_endpointing_delay", "max_tool_rounds", "metadata", "worker",
]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load(path: Path) -> str:
    """Load a file as the CLI would; the outcome as text. Anything but LkxError fails the test."""
    TALLY["inputs tried"] += 1
    try:
        agent = Agent.from_yaml(path)
    except InvalidFileError as exc:
        assert exc.problems, "an invalid file must list its problems"
        for problem in exc.problems:
            line = str(problem)
            assert line and "\n" not in line and "Traceback" not in line
            assert line.startswith(str(path)), line
        return "invalid"
    return f"valid {agent.name}"


@SETTINGS
@given(text=st.text(alphabet=string.printable + "äé€\t", max_size=300))
def test_random_text_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8")
    _load(path)


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=15), values, max_size=8))
def test_random_mappings(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _load(path)


@SETTINGS
@given(
    cut=st.integers(min_value=0, max_value=len(GOOD)),
    insert=st.text(alphabet=":{}[]-#&*!|>'\"%@` \n\t", max_size=5),
)
def test_mutated_agent_files(tmp_path: Path, cut: int, insert: str) -> None:
    path = tmp_path / "mutated.yaml"
    path.write_text(GOOD[:cut] + insert + GOOD[cut:], encoding="utf-8")
    _load(path)


@SETTINGS
@given(key=st.sampled_from(FIELDS), value=values)
def test_one_field_replaced(tmp_path: Path, key: str, value: Any) -> None:
    data = yaml.safe_load(GOOD)
    data[key] = value
    path = tmp_path / "replaced.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _load(path)


def test_validate_cli_never_tracebacks(tmp_path: Path) -> None:
    samples = ["", "- a\n- b\n", "name: [", "name: x\ninstruction: y\n", "\x00\x01", "a: *b\n"]
    for index, text in enumerate(samples):
        (tmp_path / f"s{index}.yaml").write_text(text)
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.count("error:") >= len(samples)


@function_tool
def typed(
    count: int, ratio: float, flag: bool, label: str, tags: list[str] | None = None
) -> dict[str, Any]:
    """A tool with one parameter of each kind."""
    return {"count": count, "ratio": ratio, "flag": flag, "label": label, "tags": tags}


REGISTRY = ToolRegistry([typed])


@SETTINGS
@given(arguments=st.one_of(st.dictionaries(st.text(max_size=8), values, max_size=6), values))
def test_tool_arguments_are_validated_first(arguments: Any) -> None:
    calls = 0
    TALLY["inputs tried"] += 1

    async def attempt() -> None:
        nonlocal calls
        try:
            await run_tool(REGISTRY.get("typed"), arguments)
            calls += 1
        except ValidationError as exc:
            assert exc.field == "arguments" and "\n" not in str(exc)
        except LkxError as exc:  # pragma: no cover - the tool itself cannot fail
            raise AssertionError(f"unexpected {exc!r}") from exc

    asyncio.run(attempt())
    if calls:
        assert isinstance(arguments, dict)
        assert {"count", "ratio", "flag", "label"} <= set(arguments)


@SETTINGS
@given(text=st.text(max_size=200))
def test_tool_arguments_as_raw_llm_text(text: str) -> None:
    TALLY["inputs tried"] += 1

    async def attempt() -> None:
        try:
            await run_tool(REGISTRY.get("typed"), text)
        except ValidationError:
            pass

    asyncio.run(attempt())
