"""llama.cpp in process through ``xllamacpp``: prebuilt manylinux wheels (glibc 2.17+), the chat
templates of the GGUF, grammars, JSON schemas, DRY and repetition penalties, prompt-prefix reuse.

xllamacpp embeds llama.cpp's server. Its HTTP side listens on a unix socket in a private folder
that is deleted as soon as the model is loaded, so nothing can connect to it; requests go through
direct calls. Only saving and restoring prompt prefixes (``prompt_store``) has no direct call:
a runtime that saves them keeps its socket, in its private folder, for that. Its native log is
silenced (``verbosity = -1``): nothing prints to the console.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livekitex_cli.errors import ExternalServiceError, ResourceError
from livekitex_cli.providers.local.models import require
from livekitex_cli.providers.local.prompt_store import SlotStore

Chunk = dict[str, Any]


class LlamaRuntime:
    """One loaded GGUF model. Calls block: run them in a thread."""

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int,
        n_threads: int | None = None,
        chat_template: str | None = None,
        prompt_cache_mb: int = 64,
        saved_prompts: Path | None = None,
        n_slots: int = 1,
    ) -> None:
        """``saved_prompts``: a folder where prompt prefixes are saved and restored from
        (``slots``); the server's socket then stays open, in its private folder, until the
        runtime is collected. ``n_slots``: prompt caches of ``n_ctx`` each, chosen by a
        request's ``id_slot``."""
        xllamacpp = require("xllamacpp", package="xllamacpp")
        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_parallel = n_slots
        params.n_ctx = n_ctx * n_slots  # each slot its own n_ctx
        # half the cores, and no busy-waiting: llama.cpp's threads spin at their barriers, and on
        # a machine that is busy (speech models, other jobs) that collapses throughput (measured
        # on 2 busy cores: 2 spinning threads 0.9 tokens/s, 1 thread without polling 9.2)
        threads = n_threads or max(1, min((os.cpu_count() or 2) // 2, 8))
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = threads
            cpu.poll = 0
        params.verbosity = -1
        params.cache_ram_mib = prompt_cache_mb
        params.endpoint_slots = saved_prompts is not None
        if saved_prompts is not None:
            params.slot_save_path = f"{saved_prompts}/"  # llama.cpp appends the file name
        if chat_template:
            params.chat_template = chat_template
        folder = tempfile.mkdtemp(prefix="lkx-llama-")  # mode 0700: this user only
        params.hostnames = [os.path.join(folder, "http.sock")]
        try:
            self.server = xllamacpp.Server(params)
        except (RuntimeError, ValueError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            reason = f"llama.cpp could not load {path} ({exc})".replace("\n", " ")
            raise ResourceError("model", reason) from exc
        self.prepared: set[tuple[int, str]] = set()  # (slot, prefix) read or restored
        self.slots: SlotStore | None = None
        if saved_prompts is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            self.slots = SlotStore(params.hostnames[0], saved_prompts)
            weakref.finalize(self, shutil.rmtree, folder, True)
        self.lock = threading.Lock()  # one request at a time: turns share the prompt cache
        # the grammar engine indexes the vocabulary on first use (seconds for 150k tokens):
        # pay that while loading, not in the first turn
        self.complete({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
                       "grammar": '%llguidance {}\nstart: /[a-z]+/\n'})  # fmt: skip

    def complete(self, request: dict[str, Any]) -> Chunk:
        """One whole chat completion."""
        result: Chunk = self.server.handle_chat_completions({**request, "stream": False})
        _raise_on_error(result)
        return result

    def next_tokens(self, prompt: str, *, top: int) -> dict[str, float]:
        """The ``top`` likeliest tokens to follow a raw ``prompt`` (no chat template applied),
        with their probabilities (the model's softmax, before any sampling)."""
        request = {"prompt": prompt, "max_tokens": 1, "temperature": 0.0, "n_probs": top,
                   "logprobs": True, "top_logprobs": top}  # fmt: skip
        result: Chunk = self.server.handle_completions(request)
        _raise_on_error(result)
        tokens = top_logprobs(result)
        if not tokens:
            raise ExternalServiceError("llm local-llama", "no token probabilities")
        return tokens

    def stream(self, request: dict[str, Any], on_chunk: Callable[[Chunk], bool]) -> None:
        """Stream a chat completion; ``on_chunk`` returns True to stop generating."""
        failure: list[Chunk] = []

        def receive(chunk: Chunk) -> bool:
            if "error" in chunk or ("code" in chunk and "message" in chunk):
                failure.append(chunk)
                return True
            return bool(on_chunk(chunk))

        self.server.handle_chat_completions({**request, "stream": True}, receive)
        if failure:
            _raise_on_error(failure[0])


def top_logprobs(result: Chunk | None) -> dict[str, float]:
    """A completion's first token's likeliest candidates (token -> probability), as llama.cpp
    reports them for chat and raw completions alike; empty when it reported none."""
    try:
        choice = ((result or {}).get("choices") or [{}])[0]
        entries = choice["logprobs"]["content"][0]["top_logprobs"]
        return {str(e["token"]): math.exp(float(e["logprob"])) for e in entries}
    except (KeyError, IndexError, TypeError, ValueError):
        return {}


def _raise_on_error(result: Chunk) -> None:
    error = result.get("error", result if "code" in result and "message" in result else None)
    if error is None:
        return
    detail = error if isinstance(error, dict) else {"message": str(error)}
    code = int(detail.get("code", 500) or 500)
    reason = str(detail.get("message", "llama.cpp error")).splitlines()[0]
    raise ExternalServiceError("llm local-llama", reason, retryable=code >= 500)
