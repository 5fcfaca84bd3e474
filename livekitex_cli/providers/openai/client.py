"""The ``openai`` client for our options, and its errors mapped to ours (with retry decisions)."""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any

import openai

from livekitex_cli.errors import (
    AuthError,
    ExternalServiceError,
    LkxError,
    OperationTimeoutError,
    ValidationError,
    retryable_status,
)
from livekitex_cli.providers.openai.options import OpenAIClientOptions


def make_client(options: OpenAIClientOptions) -> openai.AsyncOpenAI:
    """A client whose own retries are off: the provider base owns retries and timeouts.

    Providers on one event loop that talk to the same server with the same key and timeout
    share one client (its connection pool, and the TLS context that costs ~0.8 MB and ~34 ms
    to build): a worker with 50 jobs holds one client, not 50. Hand it back with
    ``release_client``; the last user closes it.
    """
    base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get(options.api_key_env)
    if not key:
        if base_url is None:
            raise ValidationError(
                "api_key_env",
                f"{options.api_key_env} is not set (or set base_url for a local server)",
            )
        key = "not-needed"  # local OpenAI-compatible servers usually ignore the key
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # built outside a loop: nothing to share it with safely
        return _new_client(key, base_url, options.timeout)
    clients = _shared.setdefault(loop, {})
    ident = (base_url, key, options.timeout)
    entry = clients.get(ident)
    if entry is None:
        entry = clients[ident] = _Shared(_new_client(key, base_url, options.timeout))
    entry.users += 1
    return entry.client


async def release_client(client: openai.AsyncOpenAI) -> None:
    """Give back a client from ``make_client``; it is closed when nobody uses it any more."""
    for clients in list(_shared.values()):
        for ident, entry in list(clients.items()):
            if entry.client is client:
                entry.users -= 1
                if entry.users > 0:
                    return
                del clients[ident]
                break
    await client.close()


class UsesClient:
    """For a provider: ``self.client`` from ``make_client``, handed back once by ``aclose``."""

    client: openai.AsyncOpenAI

    def _take_client(self, options: OpenAIClientOptions) -> None:
        self.client = make_client(options)
        self._released = False

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            await release_client(self.client)


class _Shared:
    __slots__ = ("client", "users")

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client
        self.users = 0


_shared: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str | None, str, float], _Shared]
] = weakref.WeakKeyDictionary()


def _new_client(key: str, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)


def map_error(service: str, exc: BaseException, timeout: float) -> LkxError:
    """Our error for anything the client raised; ``retryable`` follows the HTTP status."""
    if isinstance(exc, LkxError):
        return exc
    if isinstance(exc, openai.APITimeoutError | TimeoutError) or _transport(exc, "Timeout"):
        return OperationTimeoutError(service, timeout)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return AuthError(f"{service}: credentials refused ({exc.status_code})")
    if isinstance(exc, openai.APIStatusError):
        return ExternalServiceError(
            service,
            f"HTTP {exc.status_code}: {_message(exc)}",
            retryable=retryable_status(exc.status_code),
            status_code=exc.status_code,
            retry_after=_retry_after(exc.response),
        )
    if isinstance(exc, openai.APIConnectionError | ConnectionError) or _transport(exc, ""):
        return ExternalServiceError(service, f"connection failed: {_cause(exc)}", retryable=True)
    if isinstance(exc, json.JSONDecodeError | ValueError | KeyError | TypeError | AttributeError):
        return ExternalServiceError(
            service, f"malformed response: {type(exc).__name__}", retryable=True
        )
    return ExternalServiceError(service, f"{type(exc).__name__}: {exc}".splitlines()[0])


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:200]
    return exc.message.splitlines()[0][:200] if exc.message else "error"


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause else type(exc).__name__


def _transport(exc: BaseException, kind: str) -> bool:
    """An error of the HTTP library under the client (its name varies between versions)."""
    return type(exc).__module__.split(".")[0].startswith("httpx") and kind in type(exc).__name__


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
