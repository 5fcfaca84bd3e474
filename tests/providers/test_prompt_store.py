"""Saved prompt prefixes: a new llama.cpp runtime (a new process, in life) restores what an
earlier one read, a damaged file only costs the read, and the folder can be moved or turned
off."""

from __future__ import annotations

import gc
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("xllamacpp", reason="the local extra is not installed")

from livekitex_cli.providers.local import prompt_store  # noqa: E402
from livekitex_cli.providers.local.models import gguf_path  # noqa: E402
from livekitex_cli.providers.local.runtime import LlamaRuntime  # noqa: E402

pytestmark = pytest.mark.local_models


def _request(system: str, question: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return {"messages": messages, "max_tokens": 1, "temperature": 0.0, "cache_prompt": True}


def test_a_new_runtime_restores_a_saved_prefix_and_reads_only_the_new_words(
    tmp_path: Path,
) -> None:
    system = f"You are agent {uuid.uuid4().hex}. " + "Answer in one short sentence. " * 20
    first = LlamaRuntime(str(gguf_path(None)), n_ctx=1024, saved_prompts=tmp_path)
    read = first.complete(_request(system, "Hello"))["timings"]["prompt_n"]
    assert first.slots is not None
    first.slots.save("agent.slot")
    del first
    gc.collect()
    assert (tmp_path / "agent.slot").is_file() and not list(tmp_path.glob("*.part"))

    second = LlamaRuntime(str(gguf_path(None)), n_ctx=1024, saved_prompts=tmp_path)
    assert second.slots is not None and second.slots.restore("agent.slot")
    timings = second.complete(_request(system, "What time is it?"))["timings"]
    assert read > 150 and timings["prompt_n"] < 15 and timings["cache_n"] > 150
    assert not second.slots.restore("missing.slot")
    (tmp_path / "damaged.slot").write_bytes(b"not a llama.cpp slot")
    assert not second.slots.restore("damaged.slot")
    answer = second.complete(_request(system, "Hi"))  # the runtime still answers
    assert answer["choices"][0]["message"] is not None


def test_the_name_follows_the_prompt_and_the_model(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    one = prompt_store.name_for(str(model), _request("You are A.", "Hello"))
    assert one == prompt_store.name_for(str(model), _request("You are A.", "Hello"))
    assert one != prompt_store.name_for(str(model), _request("You are B.", "Hello"))
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    assert one != prompt_store.name_for(str(other), _request("You are A.", "Hello"))


def test_the_folder_can_be_moved_or_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LKX_PROMPT_CACHE", str(tmp_path / "prompts"))
    assert prompt_store.folder() == tmp_path / "prompts"
    monkeypatch.setenv("LKX_PROMPT_CACHE", "off")
    assert prompt_store.folder() is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LKX_PROMPT_CACHE", str(blocker / "prompts"))  # cannot be made
    assert prompt_store.folder() is None


def test_only_the_newest_prefixes_are_kept(tmp_path: Path) -> None:
    store = prompt_store.SlotStore(str(tmp_path / "no.sock"), tmp_path)
    for i in range(prompt_store.KEEP + 3):
        path = tmp_path / f"{i:03d}.slot"
        path.write_bytes(b"x")
        os.utime(path, (i, i))
    store._prune()
    kept = sorted(p.name for p in tmp_path.glob("*.slot"))
    assert len(kept) == prompt_store.KEEP and kept[0] == "003.slot"
