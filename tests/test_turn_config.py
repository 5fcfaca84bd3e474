"""``turn:``: presets, today's fields mapped onto it, both of a pair refused naming both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livekitex_cli import ValidationError, create_agent
from livekitex_cli.agent import Agent
from livekitex_cli.config.turn import LEGACY, PRESETS, TurnSettings

DETECTIONS = ("text", "stt", "model")


def settings(**fields: Any) -> TurnSettings:
    return create_agent(name="a", instructions="Hi.", **fields).spec.turn_settings


def test_without_turn_an_agent_keeps_the_old_behaviour() -> None:
    assert settings() == LEGACY
    old = settings(min_endpointing_delay=0.9, allow_interruptions=False)
    assert old.min_delay == 0.9 and not old.interruption.enabled
    assert LEGACY.interruption.min_duration == 0 and LEGACY.interruption.backchannels == ()


@pytest.mark.parametrize("preset", ["snappy", "balanced", "patient"])
def test_presets_and_fields_beside_them(preset: str) -> None:
    assert settings(turn={"preset": preset}) == PRESETS[preset]
    tuned = settings(turn={"preset": preset, "min_delay": 2.0, "interruption": {"min_words": 3}})
    assert tuned.min_delay == 2.0 and tuned.max_delay >= 2.0
    assert tuned.interruption.min_words == 3
    assert tuned.stall_timeout == PRESETS[preset].stall_timeout


def test_a_pause_is_judged_from_0_05_s_by_the_text_model_unless_told_otherwise() -> None:
    judged = {how: settings(turn={"detection": how}).pause_judged_after for how in DETECTIONS}
    assert judged == {"text": 0.05, "stt": 0.15, "model": 0.15}
    assert PRESETS["balanced"].detected_by(text_possible=True).pause_judged_after == 0.05
    assert settings(turn={"preset": "patient", "judge_delay": 0.2}).pause_judged_after == 0.2
    with pytest.raises(ValidationError, match="turn.judge_delay"):
        settings(turn={"judge_delay": -1})


def test_old_fields_map_onto_a_turn_section() -> None:
    mapped = settings(
        min_endpointing_delay=0.7, allow_interruptions=False, turn={"preset": "snappy"}
    )
    assert mapped.min_delay == 0.7
    assert not mapped.interruption.enabled
    backchannels = settings(turn={"interruption": {"backchannels": [" Mhm ", "YEAH"]}})
    assert backchannels.interruption.backchannels == ("mhm", "yeah")


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (
            {"min_endpointing_delay": 0.4},
            {"min_delay": 1.0},
            "min_endpointing_delay and turn.min_delay",
        ),
        (
            {"allow_interruptions": True},
            {"interruption": {"enabled": False}},
            "allow_interruptions and turn.interruption.enabled",
        ),
    ],
)
def test_both_of_a_pair_is_an_error_naming_both(
    old: dict[str, Any], new: dict[str, Any], names: str
) -> None:
    with pytest.raises(ValidationError, match=names):
        settings(**old, turn=new)


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text("name: bot\ninstructions: Hi.\nturn:\n  preset: hasty\n")
    with pytest.raises(ValidationError, match=r"bot.yaml:4: turn.preset"):
        Agent.from_yaml(path)
    path.write_text("name: bot\ninstructions: Hi.\nturn:\n  stall_timeout: 0\n")
    with pytest.raises(ValidationError, match=r"bot.yaml:4: turn.stall_timeout"):
        Agent.from_yaml(path)


def test_the_echo_guard_is_on_unless_turned_off() -> None:
    for on in (settings(), settings(turn={"preset": "snappy"})):
        assert on.echo_cancellation and on.noise_suppression
    off = settings(turn={"echo_cancellation": False, "noise_suppression": False})
    assert not off.echo_cancellation and not off.noise_suppression
    assert off.interruption == PRESETS["balanced"].interruption
