"""The JSON Schema of agent files, for editors (``lkx schema``): the agent fields from
``AgentSpec``, and for ``llm``/``stt``/``tts``/``vad`` one branch per installed provider with
that provider's own options, so a typo in a provider option is flagged while typing."""

from __future__ import annotations

from typing import Any

from livekitex_cli.config.schema import AgentSpec
from livekitex_cli.providers.plugin import KINDS, ProviderRegistry, default_providers

SCHEMA_ID = "https://livekitex.dev/schemas/agent.json"


def agent_schema(providers: ProviderRegistry | None = None) -> dict[str, Any]:
    registry = providers or default_providers()
    schema = AgentSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lkx agent"
    defs = schema.setdefault("$defs", {})
    defs.pop("ProviderConfig", None)
    for kind in KINDS:
        branches = []
        for name in sorted(
            registry.names(), key=lambda n: n == "auto"
        ):  # auto refers to the others
            factory = registry.plugin(name).factory(kind)
            if factory is None:
                continue
            options = factory.options.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(options.pop("$defs", {}))
            key = f"{kind}_{name}"
            properties = {"provider": {"const": name}, **options.get("properties", {})}
            if name == "auto":  # auto's targets take the target's own options
                for target in ("openai", "local"):
                    if f"{kind}_{target}" in defs and target in properties:
                        properties[target] = _without_provider(defs[f"{kind}_{target}"])
            defs[key] = {
                "type": "object",
                "title": f"{kind}: {name}",
                "description": registry.plugin(name).description,
                "properties": properties,
                "required": ["provider"],
                "additionalProperties": False,
            }
            branches.append({"$ref": f"#/$defs/{key}"})
        schema["properties"][kind] = {"anyOf": [*branches, {"type": "null"}], "default": None}
    return schema


def _without_provider(branch: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in branch["properties"].items() if k != "provider"}
    return {**branch, "properties": properties, "required": []}
