"""The ``AgentServer`` both livekit-agents sides of the comparison run on (in their own venv):
idle job processes from ``LKA_IDLE_PROCESSES``, the health port from ``LKA_HTTP_PORT`` (on
``LKA_HTTP_HOST``, by default every address as livekit-agents has it). With ``LKA_ADMIT_ALL``
set, the load it reports is 0: it takes every job however busy the machine is (by default its
load is the machine's CPU use, and a job is refused once that nears ``load_threshold``)."""

import os

from livekit.agents import AgentServer


def agent_server() -> AgentServer:
    return AgentServer(
        num_idle_processes=int(os.environ.get("LKA_IDLE_PROCESSES", "1")),
        port=int(os.environ.get("LKA_HTTP_PORT", "0")),
        host=os.environ.get("LKA_HTTP_HOST", ""),
        load_threshold=1.0,
        load_fnc=(lambda: 0.0) if os.environ.get("LKA_ADMIT_ALL") else None,
    )
