"""Bad input, generated: whatever arrives, a clear error or a result, never a crash.

Hypothesis properties (random text, mappings, mutated and field-replaced agent files, tool
arguments as values and as raw LLM text) plus two seeded fuzz loops for bulk (mutated agent
files, mutated LLM argument text). Every test shows that both its branches ran: valid inputs
are accepted and checked, invalid ones refused in one line. ``inputs tried`` in the faults
summary counts every input; CI runs a fixed seed (profile ``ci``, see tests/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import random
import string
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from livekitex_cli import Agent, ToolRegistry, ValidationError, function_tool
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
names = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
instructions = st.text(min_size=1, max_size=60).filter(lambda text: text.strip() != "")
# a valid core (name and instructions) with up to two fields of random values, or anything
mappings = st.one_of(
    st.builds(
        lambda core, extra: {**extra, **core},
        st.fixed_dictionaries({"name": names, "instructions": instructions}),
        st.dictionaries(st.sampled_from(FIELDS), values, max_size=2),
    ),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=15), values, max_size=8),
)
EXAMPLES = settings().max_examples  # from the profile (tests/conftest.py): ci, dev or deep
# the seeded fuzz loops: cheap inputs in bulk; a fixed seed where hypothesis is derandomized (CI)
FILE_FUZZ, ARGUMENT_FUZZ = EXAMPLES * 3, EXAMPLES * 14  # reading a file costs 20 times more
FILES = 0.5  # the share of EXAMPLES for the (slower) hypothesis tests of agent files
SEED = 0 if settings().derandomize else random.randrange(2**32)
SMALL = (
    "name: small\ninstructions: Be brief.\ngreeting: Hi.\ntools: [get_time]\n"
    "llm: {provider: openai, model: m, temperature: 0.5}\nmax_tool_rounds: 2\n"
    "metadata: {team: qa}\n"
)
PIECES = [":", " ", "\n", "  ", "- ", "{", "}", "[", "]", "#", "&a", "*a", "!!str ", "'", '"',
          "\t", "\x00", "\x1b", "${", "${X}", "$$", "é", "\ufeff", "---\n", "...\n", "? ", "|\n"]  # fmt: skip


def mutate(rng: random.Random, text: str) -> str:
    """One to three edits: insert a YAML-significant piece, delete a run, or duplicate, swap
    or drop a line."""
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        kind = rng.randrange(5)
        if kind == 0:
            text = text[:at] + rng.choice(PIECES) + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + rng.randint(1, 8) :]
        else:
            lines = text.split("\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == 2:
                lines.insert(a, lines[b])
            elif kind == 3:
                lines[a], lines[b] = lines[b], lines[a]
            else:
                del lines[a]
            text = "\n".join(lines)
    return text


def explore(
    strategy: st.SearchStrategy[Any], check: Callable[[Any], str], share: float = 1.0
) -> Counter[str]:
    """Run ``check`` on generated inputs (``EXAMPLES * share`` of them); the outcomes it named,
    counted, so that a test can show both its branches ran."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=int(EXAMPLES * share))
    @given(strategy)
    def run(value: Any) -> None:
        TALLY["inputs tried"] += 1
        outcomes[check(value)] += 1

    run()
    return outcomes


def _load(path: Path) -> str:
    """Load a file as the CLI would; the outcome as text. Anything but LkxError fails the test."""
    try:
        agent = Agent.from_yaml(path)
    except InvalidFileError as exc:
        assert exc.problems, "an invalid file must list its problems"
        for problem in exc.problems:
            line = str(problem)
            assert line and "\n" not in line and "Traceback" not in line
            assert line.startswith(str(path)), line
        return "invalid"
    assert agent.name and agent.instructions.strip()
    return "valid"


def load_text(path: Path) -> Callable[[str], str]:
    def check(text: str) -> str:
        path.write_text(text, encoding="utf-8")
        return _load(path)

    return check


def test_random_text_files(tmp_path: Path) -> None:
    texts = st.text(alphabet=string.printable + "äé€\t\x00\x1b", max_size=300)
    assert explore(texts, load_text(tmp_path / "random.yaml"), FILES)["invalid"]


def test_random_mappings(tmp_path: Path) -> None:
    def check(data: dict[str, Any]) -> str:
        outcome = load_text(tmp_path / "mapping.yaml")(yaml.safe_dump(data))
        if outcome == "valid":
            assert Agent.from_yaml(tmp_path / "mapping.yaml").name == data["name"]
        return outcome

    outcomes = explore(mappings, check, FILES)
    assert outcomes["valid"] and outcomes["invalid"], outcomes  # both branches ran


def test_mutated_agent_files(tmp_path: Path) -> None:
    mutations = st.tuples(
        st.integers(min_value=0, max_value=len(GOOD)),
        st.text(alphabet=":{}[]-#&*!|>'\"%@` \n\t", max_size=5),
    )
    check = load_text(tmp_path / "mutated.yaml")
    outcomes = explore(
        mutations, lambda cut: check(GOOD[: cut[0]] + cut[1] + GOOD[cut[0] :]), FILES
    )
    assert outcomes["valid"] and outcomes["invalid"], outcomes


def test_one_field_replaced(tmp_path: Path) -> None:
    def check(change: tuple[str, Any]) -> str:
        data = yaml.safe_load(GOOD)
        data[change[0]] = change[1]
        return load_text(tmp_path / "replaced.yaml")(yaml.safe_dump(data))

    outcomes = explore(st.tuples(st.sampled_from(FIELDS), values), check, FILES)
    assert outcomes["valid"] and outcomes["invalid"], outcomes


def test_seeded_mutations_of_an_agent_file(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    check = load_text(tmp_path / "fuzzed.yaml")
    outcomes: Counter[str] = Counter()
    for _ in range(FILE_FUZZ):
        text = mutate(rng, SMALL)
        TALLY["inputs tried"] += 1
        try:
            outcomes[check(text)] += 1
        except AssertionError as exc:
            raise AssertionError(f"seed {SEED}, input {text!r}: {exc}") from exc
    assert outcomes["valid"] and outcomes["invalid"], (SEED, outcomes)


def test_validate_cli_never_tracebacks(tmp_path: Path) -> None:
    samples = ["", "- a\n- b\n", "name: [", "name: x\ninstruction: y\n", "\x00\x01", "a: *b\n"]
    for index, text in enumerate(samples):
        (tmp_path / f"s{index}.yaml").write_text(text)
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.count("error:") >= len(samples)


@function_tool
async def typed(
    count: int, ratio: float, flag: bool, label: str, tags: list[str] | None = None
) -> dict[str, Any]:
    """A tool with one parameter of each kind."""
    return {"count": count, "ratio": ratio, "flag": flag, "label": label, "tags": tags}


REGISTRY = ToolRegistry([typed])
REQUIRED = {"count", "ratio", "flag", "label"}
good_arguments = st.fixed_dictionaries(
    {"count": st.integers(), "ratio": st.floats(allow_nan=False), "flag": st.booleans(),
     "label": st.text(max_size=20)},
    optional={"tags": st.none() | st.lists(st.text(max_size=8), max_size=3)},
)  # fmt: skip
# valid arguments, the same with one value replaced or one key dropped or added, or anything
arguments = st.one_of(
    good_arguments,
    st.builds(lambda good, key, value: {**good, key: value},
              good_arguments, st.sampled_from([*REQUIRED, "tags", "extra"]), values),
    st.builds(lambda good, key: {k: v for k, v in good.items() if k != key},
              good_arguments, st.sampled_from(sorted(REQUIRED))),
    st.dictionaries(st.text(max_size=8), values, max_size=6),
    values,
)  # fmt: skip
# what an LLM sends: JSON of the above, cut short, wrapped in prose, or any text at all
raw_texts = st.one_of(
    arguments.map(lambda value: json.dumps(value, allow_nan=True)),
    st.builds(lambda value, cut: json.dumps(value)[:cut], good_arguments, st.integers(0, 60)),
    good_arguments.map(lambda value: f"Sure! Here are the arguments: {json.dumps(value)}"),
    st.text(max_size=200),
)


def call_typed(runner: asyncio.Runner, raw: Any) -> str:
    """``run_tool`` on ``raw``: ``ran`` (the result carries the arguments) or ``refused`` (one
    line naming the arguments); anything else raised fails the test."""
    try:
        result = runner.run(run_tool(REGISTRY.get("typed"), raw))
    except ValidationError as exc:
        assert exc.field == "arguments" and "\n" not in str(exc), str(exc)
        return "refused"
    given = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(given, dict) and set(given) <= REQUIRED | {"tags"} <= set(result)
    assert REQUIRED <= set(given) and result["label"] == given["label"]
    assert result["count"] == given["count"]  # passed on as given (validated, not mangled)
    return "ran"


def test_tool_arguments_are_validated_first() -> None:
    with asyncio.Runner() as runner:
        outcomes = explore(arguments, lambda raw: call_typed(runner, raw))
    assert outcomes["ran"] and outcomes["refused"], outcomes


def test_tool_arguments_as_raw_llm_text() -> None:
    with asyncio.Runner() as runner:
        outcomes = explore(raw_texts, lambda raw: call_typed(runner, raw))
    assert outcomes["ran"] and outcomes["refused"], outcomes


def test_seeded_mutations_of_llm_argument_text() -> None:
    rng = random.Random(SEED)
    good = json.dumps({"count": 3, "ratio": 0.5, "flag": True, "label": "x", "tags": ["a"]})
    outcomes: Counter[str] = Counter()
    with asyncio.Runner() as runner:
        for _ in range(ARGUMENT_FUZZ):
            text = mutate(rng, good)
            TALLY["inputs tried"] += 1
            try:
                outcomes[call_typed(runner, text)] += 1
            except AssertionError as exc:
                raise AssertionError(f"seed {SEED}, input {text!r}: {exc}") from exc
    assert outcomes["ran"] and outcomes["refused"], (SEED, outcomes)
