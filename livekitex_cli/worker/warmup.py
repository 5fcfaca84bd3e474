"""What a worker does right after it starts registering: import what the first job needs, and
load the local models its agents use, so the first job does not wait and ``/ready`` can say
when the providers are loaded."""

from __future__ import annotations

import asyncio
import importlib

from livekitex_cli.agent import Agent
from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.session.build import build_providers

log = get_logger("worker")


def import_modules(agents: list[Agent]) -> None:
    """Import room I/O and the providers' client modules (in a thread: imports block)."""
    modules = ["livekitex_cli.worker.room_io"]
    for agent in agents:
        for kind in ("llm", "stt", "tts"):
            config = getattr(agent.spec, kind)
            if config is None or config.provider in ("openai", "auto"):
                modules.append(
                    "livekitex_cli.providers.openai.llm"
                    if kind == "llm"
                    else "livekitex_cli.providers.openai.speech"
                )
    for name in dict.fromkeys(modules):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.info("warm-up import failed", extra={"module": name, "error": str(exc)})


async def warm_up(agents: list[Agent]) -> None:
    """Imports, then every provider that has a ``load()`` (the local models) loads once for the
    process; jobs then share what is loaded. A failure is logged: the job will report it."""
    await asyncio.to_thread(import_modules, agents)
    for agent in agents:
        try:
            providers = build_providers(agent)
        except LkxError as exc:
            log.warning("provider warm-up failed", extra={"agent": agent.name, "error": str(exc)})
            continue
        built = [providers.llm, providers.stt, providers.tts, providers.vad]
        try:
            for provider in built:
                load = getattr(provider, "load", None)
                if load is not None:
                    await load()
        except Exception as exc:  # noqa: BLE001 - reported, the worker goes on
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("provider warm-up failed", extra={"agent": agent.name, "error": reason})
        finally:
            for provider in built:
                if provider is not None:
                    await provider.aclose()
