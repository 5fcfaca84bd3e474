"""The livekit-agents side of the comparison: the same text agent as bench's lkx one.

Runs in its own virtual environment (livekit-agents pins an older livekit):
    python bench/lka/agent.py start
Needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and OPENAI_BASE_URL.
"""

import os

from livekit.agents import Agent, AgentSession, JobContext, cli, room_io
from livekit.plugins import openai
from worker_server import agent_server  # beside this file

server = agent_server()


@server.rtc_session(agent_name=os.environ.get("LKA_AGENT_NAME", "bench-echo"))
async def entry(ctx: JobContext) -> None:
    session = AgentSession(
        llm=openai.LLM(model="scripted", base_url=os.environ["OPENAI_BASE_URL"], api_key="bench"),
    )
    await session.start(
        agent=Agent(instructions="Echo."),
        room=ctx.room,
        room_options=room_io.RoomOptions(audio_input=False, audio_output=False),
        record=False,
    )


if __name__ == "__main__":
    cli.run_app(server)
