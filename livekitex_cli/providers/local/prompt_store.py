"""Saved prompt prefixes: llama.cpp's state after reading an agent's instructions and tools,
kept on disk, so that the next process (another ``lkx console`` run, a ``lkx dev`` reload, a
restarted worker) restores it in milliseconds instead of reading the prompt again (6-20 s for
an example agent on 2 cores).

A saved state holds its tokens; llama.cpp reuses only the part that matches the next prompt
token for token, so a stale or foreign file costs nothing but the read. Files are named by a
hash of the model file and the prompt, written under a temporary name and renamed (several
processes may save the same prefix), and the oldest beyond ``KEEP`` are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

from livekitex_cli.log import get_logger
from livekitex_cli.providers.local.models import cache_root

log = get_logger("providers")
KEEP = 32  # saved prefixes (about 5 MB each for a 0.5B model and 450 tokens)
SUFFIX = ".slot"


def folder() -> Path | None:
    """Where prefixes are saved: ``$LKX_PROMPT_CACHE``, else ``$LKX_CACHE/prompts`` (default
    ``~/.cache/lkx/prompts``); ``None`` when that is ``off`` or cannot be made (a read-only
    file system): nothing is saved then."""
    configured = os.environ.get("LKX_PROMPT_CACHE", "").strip()
    if configured.lower() in ("off", "0", "false", "no"):
        return None
    path = Path(configured) if configured else cache_root() / "prompts"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)  # prompts hold the instructions
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def name_for(model_path: str, request: dict[str, Any]) -> str:
    """The file name for the prefix of ``request`` on a model: its first message (the system
    prompt, which holds the instructions and the tool descriptions)."""
    stat = os.stat(model_path)
    first = (request.get("messages") or [None])[0]
    identity = [model_path, stat.st_size, int(stat.st_mtime), first]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32] + SUFFIX


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class SlotStore:
    """Save and restore llama.cpp's slots through its server's private unix socket."""

    def __init__(self, socket_path: str, saved: Path) -> None:
        self.socket_path = socket_path
        self.saved = saved
        self.restored = 0  # prefixes restored so far

    def _action(self, action: str, filename: str, slot: int) -> bool:
        connection = _UnixConnection(self.socket_path, timeout=30.0)
        try:
            body = json.dumps({"filename": filename})
            connection.request("POST", f"/slots/{slot}?action={action}", body)
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def restore(self, filename: str, *, slot: int = 0) -> bool:
        """Whether a saved prefix was found and loaded into ``slot``."""
        if not (self.saved / filename).is_file():
            return False
        restored = self._action("restore", filename, slot)
        self.restored += restored
        log.debug("saved prompt prefix restored" if restored else "saved prompt prefix unusable",
                  extra={"file": filename})  # fmt: skip
        return restored

    def save(self, filename: str, *, slot: int = 0) -> None:
        """Save ``slot``'s state as ``filename`` (best effort: a failure only costs time)."""
        partial = f".{uuid.uuid4().hex}{SUFFIX}.part"
        if not self._action("save", partial, slot):
            with contextlib.suppress(OSError):
                (self.saved / partial).unlink()
            return
        with contextlib.suppress(OSError):
            os.replace(self.saved / partial, self.saved / filename)
            self._prune()

    def _prune(self) -> None:
        files = sorted(self.saved.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
        for old in files[:-KEEP]:
            with contextlib.suppress(OSError):
                old.unlink()
