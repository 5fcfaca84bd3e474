"""A weather tool with a deterministic offline answer, so the examples run anywhere."""

from __future__ import annotations

import hashlib
from typing import Literal

from livekitex_cli.tools import function_tool

_CONDITIONS = ("sunny", "cloudy", "rainy", "windy", "snowy", "foggy")


@function_tool(timeout=10)
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, object]:
    """Get the current weather for a city.

    Args:
        city: The city name, for example "Paris".
        unit: The temperature unit.
    """
    name = city.strip()
    if not name:
        raise ValueError("city must not be empty")
    digest = hashlib.sha256(name.lower().encode()).digest()
    celsius = digest[0] % 35 - 5
    temperature = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    return {
        "city": name,
        "temperature": temperature,
        "unit": unit,
        "conditions": _CONDITIONS[digest[1] % len(_CONDITIONS)],
    }
