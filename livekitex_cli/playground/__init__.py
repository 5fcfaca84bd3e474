"""The browser playground of ``lkx dev``: a page (LiveKit's JS SDK, bundled and shipped in
``static/``) and the loopback endpoints that hand it a token which brings the chosen agent."""

from livekitex_cli.playground.catalog import ServedAgent, pick_agent, served_agents
from livekitex_cli.playground.server import DEFAULT_PORT, LiveKitAccess, Playground

__all__ = [
    "DEFAULT_PORT",
    "LiveKitAccess",
    "Playground",
    "ServedAgent",
    "pick_agent",
    "served_agents",
]
