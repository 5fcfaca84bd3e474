"""Join tokens for test participants, for ``lkx connect`` and for ``lkx dev`` (whose tokens
bring an agent along: the dispatch rides in the token's room configuration)."""

from __future__ import annotations

from datetime import timedelta

from livekit import api

from livekitex_cli.errors import ValidationError

# A room that a dispatch token creates closes this many seconds after its last participant
# leaves (LiveKit's default is 20): the token's dispatch applies only when its join creates the
# room, so a rejoin must find the room gone to bring the agent again.
DISPATCH_ROOM_DEPARTURE_TIMEOUT = 2


def mint_token(
    *,
    api_key: str,
    api_secret: str,
    room: str,
    identity: str,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=6),
    agent: bool = False,
    dispatch: str | None = None,
    dispatch_metadata: str = "",
) -> str:
    """A join token for one room: publish, subscribe and data, nothing more (no admin grants).

    ``dispatch`` names an agent: when the room is created by this token's join, LiveKit
    dispatches that agent to it (agents that register with a name get explicit dispatches
    only, so a plain token would wait for an agent forever). Such a room closes soon after
    everyone left (``DISPATCH_ROOM_DEPARTURE_TIMEOUT``), so the same token works again.
    """
    if not api_key or not api_secret:
        raise ValidationError(
            "api_key", "an API key and secret are needed (LIVEKIT_API_KEY/SECRET)"
        )
    if not room or not identity:
        raise ValidationError("room" if not room else "identity", "must not be empty")
    grants = api.VideoGrants(
        room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=True,
        can_update_own_metadata=agent, agent=agent,
    )  # fmt: skip
    token = api.AccessToken(api_key, api_secret).with_identity(identity).with_grants(grants)
    if agent:
        token = token.with_kind("agent")
    if dispatch:
        agents = [api.RoomAgentDispatch(agent_name=dispatch, metadata=dispatch_metadata)]
        config = api.RoomConfiguration(
            agents=agents, departure_timeout=DISPATCH_ROOM_DEPARTURE_TIMEOUT
        )
        token = token.with_room_config(config)
    return token.with_name(name or identity).with_ttl(ttl).to_jwt()
