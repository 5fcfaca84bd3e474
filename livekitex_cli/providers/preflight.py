"""Checks that run before a worker registers, so an agent that cannot work is refused at start
with one line (a missing key, model or package; an unreachable server) instead of registering
and then failing every job. Every check is cheap: files and package metadata, one TCP connect."""

from __future__ import annotations

import importlib.util
import socket
import threading
from urllib.parse import urlsplit

from livekitex_cli.errors import ConnectError, ExitCode, LkxError, PreflightError, ResourceError

CONNECT_TIMEOUT = 2.0


def require_module(module: str, *, install: str) -> None:
    """The module can be imported (found, not imported: that stays cheap)."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ResourceError("package", f"'{module}' is not installed: {install}")


def require_any_module(modules: tuple[str, ...], *, install: str) -> None:
    for module in modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return
        except (ImportError, ValueError):
            continue
    raise ResourceError("package", f"'{modules[0]}' is not installed: {install}")


def reachable(url: str, *, timeout: float = CONNECT_TIMEOUT) -> None:
    """A TCP connection to ``url``'s host and port opens within ``timeout`` seconds (name
    lookup included), or ``ConnectError``."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ConnectError(f"cannot reach {url!r}: no host in the URL")
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=attempt, name="lkx-preflight-connect", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)  # getaddrinfo has no timeout of its own
    if not outcome:
        raise ConnectError(f"cannot reach {host}:{port} ({url}): no answer in {timeout:g} s")
    if outcome[0] is not None:
        reason = getattr(outcome[0], "strerror", None) or str(outcome[0])
        raise ConnectError(f"cannot reach {host}:{port} ({url}): {reason}")


class ProviderProblem:
    """One provider of one agent that cannot work, and why (an ``LkxError`` naming the fix)."""

    def __init__(self, *, agent: str, kind: str, provider: str, error: Exception) -> None:
        self.agent, self.kind, self.provider, self.error = agent, kind, provider, error

    @property
    def exit_code(self) -> ExitCode:
        return self.error.exit_code if isinstance(self.error, LkxError) else ExitCode.RESOURCE

    def __str__(self) -> str:
        return f"agent '{self.agent}': {self.kind} provider '{self.provider}': {self.error}"


def preflight_error(problems: list[ProviderProblem]) -> PreflightError:
    """One line per agent and cause: an agent whose llm, stt and tts all miss the same key gets
    one line naming the three."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for problem in problems:
        key = (problem.agent, problem.provider, str(problem.error))
        grouped.setdefault(key, []).append(problem.kind)
    lines = [
        f"agent '{agent}': {', '.join(kinds)} provider '{provider}': {reason}"
        for (agent, provider, reason), kinds in grouped.items()
    ]
    return PreflightError(lines, problems[0].exit_code)
