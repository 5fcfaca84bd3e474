"""``lkx schema``: the JSON Schema of agent files accepts every valid example, flags what the
loader refuses, and the committed ``agent.schema.json`` is what ``lkx schema`` prints today."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.providers.json_schema import agent_schema

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [ROOT / "agent.example.yaml", *sorted((ROOT / "agents").glob("*.yaml"))]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = agent_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_current() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    committed = (ROOT / "agent.schema.json").read_text()
    assert json.loads(result.stdout) == json.loads(committed), (
        "run: lkx schema -o agent.schema.json"
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_and_carry_the_modeline(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    target = text.splitlines()[0].split("$schema=", 1)[1]
    assert (path.parent / target).resolve() == ROOT / "agent.schema.json"
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(text))]
    assert errors == []


@pytest.mark.parametrize(
    "document",
    [
        {"name": "a", "instructions": "x", "instruction": "typo"},
        {"name": "a", "instructions": "x", "llm": {"provider": "openai", "temprature": 1}},
        {"name": "a", "instructions": "x", "llm": {"provider": "nope"}},
        {"name": "a", "instructions": "x", "llm": {"provider": "auto", "local": {"max_tokns": 5}}},
        {"name": "a", "instructions": "x", "vad": {"provider": "local", "threshold": 2}},
        {"name": "bad name", "instructions": "x"},
    ],
)
def test_mistakes_are_flagged(document: dict, validator: jsonschema.Draft202012Validator) -> None:
    assert not validator.is_valid(document)


def test_schema_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["title"] == "lkx agent"
