"""A worker built from Python with ``WorkerOptions(entry_point=...)``, run as its own process by
``test_settings_live.py`` (livekit's native layer may end the process that ran rooms with a
SIGTERM on a late panic: that must not be the test run). Prints each room its entry point
enters, and whether the served agent kept its instructions, one JSON line each."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from livekitex_cli.agent import load_agents
from livekitex_cli.worker import WorkerOptions
from livekitex_cli.worker.jobs import JobContext
from livekitex_cli.worker.worker import Worker


def say(**data: object) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def main(agent_file: str) -> None:
    async def entry_point(ctx: JobContext) -> None:
        if ctx.room.name == "pirate-room":
            ctx.agent.update_instructions("Talk like a pirate.")
        say(entered=ctx.room.name, served=worker.slots[0].agent.instructions)

    options = WorkerOptions(
        entry_point=entry_point, agent_name="support-agent", server_url=os.environ["LIVEKIT_URL"],
        api_key=os.environ["LIVEKIT_API_KEY"], api_secret=os.environ["LIVEKIT_API_SECRET"],
        drain_timeout=5,
    )  # fmt: skip
    worker = Worker(
        agents=load_agents([agent_file]), options={"support-agent": options}, version="test"
    )
    task = asyncio.create_task(worker.run())  # SIGTERM drains it
    while not worker.registered and not task.done():
        await asyncio.sleep(0.02)
    say(registered=worker.registered)
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
