"""The livekit-agents side of ``python -m bench voice_rooms --framework lka``: the same voice
agent as bench's lkx one (Silero VAD; STT, LLM and TTS on the scripted OpenAI-compatible
server), with livekit-agents' defaults otherwise.

Runs in its own virtual environment (livekit-agents pins an older livekit):
    python bench/lka/voice_agent.py start
Needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and OPENAI_BASE_URL.
"""

import os

from livekit.agents import Agent, AgentSession, JobContext, JobProcess, cli
from livekit.plugins import openai, silero
from worker_server import agent_server  # beside this file

server = agent_server()


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load()


server.setup_fnc = prewarm


@server.rtc_session(agent_name=os.environ.get("LKA_AGENT_NAME", "bench-voice"))
async def entry(ctx: JobContext) -> None:
    base = os.environ["OPENAI_BASE_URL"]
    session = AgentSession(
        vad=ctx.proc.userdata["vad"],
        stt=openai.STT(base_url=base, api_key="bench", use_realtime=False),
        llm=openai.LLM(model="scripted", base_url=base, api_key="bench"),
        tts=openai.TTS(base_url=base, api_key="bench", response_format="pcm"),
    )
    await session.start(agent=Agent(instructions="Echo."), room=ctx.room, record=False)


if __name__ == "__main__":
    cli.run_app(server)
