"""The ``AgentServer`` both livekit-agents sides of the comparison run on (in their own venv):
idle job processes from ``LKA_IDLE_PROCESSES``, the health port from ``LKA_HTTP_PORT``."""

import os

from livekit.agents import AgentServer


def agent_server() -> AgentServer:
    return AgentServer(
        num_idle_processes=int(os.environ.get("LKA_IDLE_PROCESSES", "1")),
        port=int(os.environ.get("LKA_HTTP_PORT", "0")),
        load_threshold=1.0,
    )
