"""Per-call variables through the real LiveKit server: dispatch metadata and participant
attributes fill the prompt that reaches the LLM; every bad value fails only its own job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from livekit import api, rtc

from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker.event_routing import route_room_events
from livekitex_cli.worker.joining import connect_room
from tests.livekit_server import KEY, SECRET, LiveKitServer, needs_server
from tests.worker.conftest import Participant

AGENT = """name: caller
instructions: Help {{customer_name}} in {{language}}.
greeting: Hello {{customer_name}}!
llm: {provider: openai, model: scripted, timeout: 5, max_retries: 0}
variables:
  customer_name: {type: string, default: there}
  language: {enum: [en, de]}
"""


async def call(
    server: LiveKitServer, lk: api.LiveKitAPI, room: str, metadata: str, attributes: dict[str, str]
) -> Participant:
    """Join ``room`` as a user with ``attributes``, then dispatch the agent with ``metadata``."""
    await lk.room.create_room(api.CreateRoomRequest(name=room))
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity(f"user-{room}")
        .with_attributes(attributes)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )
    person = Participant(rtc.Room())
    await connect_room(person.room, server.url, token, timeout=60)
    route_room_events(person.room)
    await lk.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name="caller", room=room, metadata=metadata)
    )
    return person


@pytest.mark.livekit
@needs_server
async def test_metadata_and_attributes_fill_the_prompt_bad_values_fail_one_job(
    start_worker: Any,
    livekit_server: LiveKitServer,
    livekit_api: api.LiveKitAPI,
    threaded_openai: ScriptedOpenAI,
    tmp_path: Path,
) -> None:
    path = tmp_path / "caller.yaml"
    path.write_text(AGENT)
    worker = start_worker(str(path))
    bad = {
        "bad-enum": ('{"language": "fr"}', {}),
        "not-json": ("oops", {"language": "en"}),
        "missing": ('{"customer_name": "Ada"}', {}),
        "bad-attribute": ("", {"language": "english"}),
    }
    people = [
        await call(livekit_server, livekit_api, room, metadata, attributes)
        for room, (metadata, attributes) in bad.items()
    ]
    good = await call(
        livekit_server, livekit_api, "good", '{"customer_name": "Ada"}', {"language": "de"}
    )
    people.append(good)
    await good.wait_agent(30)
    assert await good.next_chat(30) == "Hello Ada!"
    await good.say("hi")
    assert await good.next_chat() == "You said: hi"
    prompts = [r["messages"][0]["content"] for r in threaded_openai.chat_requests]
    assert prompts == ["Help Ada in de."]
    await worker.until('"msg": "job failed"', 30, count=len(bad))
    _, state = await worker.get("/worker")
    errors = sorted(j["error"] for j in state["agents"][0]["jobs"] if j["state"] == "failed")
    assert errors == sorted(
        [
            "variables.language: 'fr' from dispatch metadata is not one of en, de",
            "metadata: the dispatch metadata is not a JSON object",
            "variables.language: missing (looked in: dispatch metadata, attributes of "
            "user-missing)",
            "variables.language: 'english' from attributes of user-bad-attribute is not one "
            "of en, de",
        ]
    ), state
    log = worker.output()
    assert log.count('"msg": "job failed"') == len(bad)
    assert not any("{{" in prompt for prompt in prompts)  # never a half-filled prompt
    for person in people:
        await person.leave()
