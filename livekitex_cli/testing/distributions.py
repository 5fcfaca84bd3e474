"""Make an installed-looking distribution in a folder: a module plus its ``.dist-info`` with
entry points (``livekitex.tools``, ``livekitex.providers``). Put the folder on ``sys.path`` (or
``PYTHONPATH``) and what it offers is discovered like that of any installed package."""

from __future__ import annotations

from pathlib import Path


def write_distribution(
    folder: Path,
    *,
    name: str,
    module: str,
    source: str,
    entry_points: dict[str, dict[str, str]],
    version: str = "1.0",
) -> Path:
    """Write ``<module>.py`` and ``<name>-<version>.dist-info``; ``entry_points`` maps each group
    to its entry-point names and their ``module:attribute``. Returns the dist-info folder. Safe
    to call again (updates)."""
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    sections = (
        f"[{group}]\n" + "".join(f"{entry} = {target}\n" for entry, target in entries.items())
        for group, entries in entry_points.items()
    )
    (info / "entry_points.txt").write_text("\n".join(sections))
    return info


def write_tool_distribution(
    folder: Path,
    *,
    name: str,
    module: str,
    source: str,
    tools: dict[str, str],
    version: str = "1.0",
) -> Path:
    """A distribution of ``livekitex.tools`` entry points: ``tools`` maps their names to
    ``module:attribute``."""
    return write_distribution(
        folder, name=name, module=module, source=source,
        entry_points={"livekitex.tools": tools}, version=version,
    )  # fmt: skip
