"""The ``openai`` client for our options, and its errors mapped to ours (with retry decisions)."""

from __future__ import annotations

import json
import os
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
    """A client whose own retries are off: the provider base owns retries and timeouts."""
    base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get(options.api_key_env)
    if not key:
        if base_url is None:
            raise ValidationError(
                "api_key_env",
                f"{options.api_key_env} is not set (or set base_url for a local server)",
            )
        key = "not-needed"  # local OpenAI-compatible servers usually ignore the key
    return openai.AsyncOpenAI(
        api_key=key, base_url=base_url, max_retries=0, timeout=options.timeout
    )


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
