"""Explicit agent dispatch through LiveKit's AgentDispatchService: bring an agent into a room
(``lkx dispatch create``), list a room's dispatches, delete one."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from livekit import api

from livekitex_cli.config.schema import NAME_PATTERN
from livekitex_cli.errors import AuthError, ConnectError, ExternalServiceError, ValidationError

T = TypeVar("T")
TIMEOUT = 10.0


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # the key and secret never print
        return f"Server(url={self.url!r})"

    def check(self) -> Server:
        problems = []
        if not self.url.startswith(("ws://", "wss://", "http://", "https://")):
            problems.append("url must start with ws://, wss://, http:// or https:// (LIVEKIT_URL)")
        if not self.api_key:
            problems.append("api key is required (--api-key or LIVEKIT_API_KEY)")
        if not self.api_secret:
            problems.append("api secret is required (LIVEKIT_API_SECRET)")
        if problems:
            raise ValidationError("server", "; ".join(problems))
        return self


@dataclass(frozen=True)
class Dispatch:
    id: str
    agent_name: str
    room: str
    metadata: str
    jobs: int

    @classmethod
    def of(cls, found: api.AgentDispatch) -> Dispatch:
        return cls(found.id, found.agent_name, found.room, found.metadata, len(found.state.jobs))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent_name": self.agent_name,
            "room": self.room,
            "metadata": self.metadata,
            "jobs": self.jobs,
        }


def check_agent_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        reason = f"'{name}' is not an agent name (letters, digits, '_', '.', '-'; 1 to 64)"
        raise ValidationError("agent", reason)
    return name


def check_metadata(metadata: str | None) -> str:
    """Dispatch metadata is free text for the job; JSON is what lkx agents read, so text that
    looks like JSON must parse."""
    if not metadata:
        return ""
    if metadata.lstrip().startswith(("{", "[")):
        try:
            json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise ValidationError("metadata", f"invalid JSON: {exc.msg} at {exc.pos}") from None
    return metadata


async def create_dispatch(
    server: Server, *, agent_name: str, room: str, metadata: str | None = None
) -> Dispatch:
    request = api.CreateAgentDispatchRequest(
        agent_name=check_agent_name(agent_name),
        room=_room(room),
        metadata=check_metadata(metadata),
    )
    created = await call_api(server, lambda lk: lk.agent_dispatch.create_dispatch(request))
    return Dispatch.of(created)


async def list_dispatches(server: Server, *, room: str) -> list[Dispatch]:
    found = await call_api(server, lambda lk: lk.agent_dispatch.list_dispatch(_room(room)))
    return [Dispatch.of(item) for item in found]


async def delete_dispatch(server: Server, *, dispatch_id: str, room: str) -> Dispatch:
    if not dispatch_id.strip():
        raise ValidationError("dispatch_id", "must not be empty")
    deleted = await call_api(
        server, lambda lk: lk.agent_dispatch.delete_dispatch(dispatch_id, _room(room))
    )
    return Dispatch.of(deleted)


def _room(room: str) -> str:
    if not room.strip():
        raise ValidationError("room", "must not be empty")
    return room


async def call_api(server: Server, call: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
    server.check()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    try:
        async with api.LiveKitAPI(
            server.url, server.api_key, server.api_secret, timeout=timeout, failover=False
        ) as lk:
            return await call(lk)
    except api.TwirpError as exc:
        if exc.status in (401, 403):
            raise AuthError(f"{server.url} refused the API key ({exc.message})") from None
        if exc.status == 404:
            raise ValidationError("dispatch", exc.message or "not found") from None
        reason = f"{exc.code}: {exc.message}"
        raise ExternalServiceError("livekit", reason, retryable=exc.status >= 500) from None
    except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ConnectError(f"cannot reach the LiveKit server at {server.url}: {reason}") from None
