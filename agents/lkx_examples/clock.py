"""A clock tool: the current time in a city or an IANA time zone."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from livekitex_cli.tools import function_tool


@cache
def _zones_by_city() -> dict[str, str]:
    """``tokyo`` -> ``Asia/Tokyo``, ``new york`` -> ``America/New_York``, from the tz database."""
    found: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/")):
            found.setdefault(zone.rsplit("/", 1)[1].replace("_", " ").lower(), zone)
    return found


def find_zone(place: str) -> ZoneInfo:
    """A time zone by IANA name (``Europe/Paris``, ``UTC``) or by city (``Paris``)."""
    name = place.strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    zone = _zones_by_city().get(name.split(",")[0].strip().lower())
    if zone is None:
        raise ValueError(f"unknown time zone '{place}' (give a city, Tokyo, or a zone, Asia/Tokyo)")
    return ZoneInfo(zone)


@function_tool(timeout=5)
def get_time(timezone: str = "UTC") -> str:
    """Get the current date and time in a city or time zone.

    Args:
        timezone: The city the user asked about, as they said it, or a time zone name.
    """
    zone = find_zone(timezone or "UTC")
    return datetime.now(zone).strftime("%A %d %B %Y, %I:%M %p %Z")
