"""Make an installed-looking distribution in a folder: a module plus its ``.dist-info`` with
``livekitex.tools`` entry points. Put the folder on ``sys.path`` (or ``PYTHONPATH``) and the
tools are discovered like those of any installed package."""

from __future__ import annotations

from pathlib import Path


def write_tool_distribution(
    folder: Path,
    *,
    name: str,
    module: str,
    source: str,
    tools: dict[str, str],
    version: str = "1.0",
) -> Path:
    """Write ``<module>.py`` and ``<name>-<version>.dist-info``; ``tools`` maps entry-point
    names to ``module:attribute``. Returns the dist-info folder. Safe to call again (updates)."""
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{entry} = {target}\n" for entry, target in tools.items())
    (info / "entry_points.txt").write_text(f"[livekitex.tools]\n{lines}")
    return info
