"""The agent-worker protocol's messages: what the worker sends, built from plain values."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlparse

from livekit import api
from livekit.protocol import agent as proto
from livekit.protocol import models

from livekitex_cli.worker.options import WorkerOptions


@dataclass(frozen=True)
class Availability:
    """How to answer one availability request."""

    available: bool
    identity: str = ""
    name: str = ""
    attributes: dict[str, str] | None = None
    reason: str = ""


def agent_url(server_url: str) -> str:
    parsed = urlparse(server_url)
    scheme = (
        parsed.scheme.replace("http", "ws", 1)
        if parsed.scheme.startswith("http")
        else parsed.scheme
    )
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/agent"


def worker_token(options: WorkerOptions) -> str:
    """A short-lived JWT with only the agent grant (no identity, no room)."""
    return (
        api.AccessToken(options.api_key.get_secret_value(), options.api_secret.get_secret_value())
        .with_grants(api.VideoGrants(agent=True))
        .to_jwt()
    )


def register_message(options: WorkerOptions, version: str) -> proto.WorkerMessage:
    message = proto.WorkerMessage()
    request = message.register
    request.type = proto.JT_PUBLISHER if options.worker_type == "publisher" else proto.JT_ROOM
    request.agent_name = options.agent_name
    request.version = version
    request.allowed_permissions.CopyFrom(
        models.ParticipantPermission(
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
            can_update_metadata=True,
            agent=True,
        )  # fmt: skip
    )
    return message


def availability_message(
    request: proto.AvailabilityRequest, answer: Availability
) -> proto.WorkerMessage:
    message = proto.WorkerMessage()
    response = message.availability
    response.job_id = request.job.id
    response.available = answer.available
    if answer.available:
        response.participant_identity = answer.identity
        response.participant_name = answer.name
        response.participant_attributes.update(answer.attributes or {})
    return message


def status_message(status: int, load: float, jobs: int) -> proto.WorkerMessage:
    message = proto.WorkerMessage()
    message.update_worker.status = status  # type: ignore[assignment]
    message.update_worker.load = load
    message.update_worker.job_count = jobs
    return message


def job_message(job_id: str, status: int, error: str = "") -> proto.WorkerMessage:
    message = proto.WorkerMessage()
    message.update_job.job_id = job_id
    message.update_job.status = status  # type: ignore[assignment]
    message.update_job.error = error
    return message


def ping_message() -> proto.WorkerMessage:
    message = proto.WorkerMessage()
    message.ping.timestamp = int(time.time() * 1000)
    return message
