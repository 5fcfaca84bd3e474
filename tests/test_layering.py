"""The arrows of STYLE.md, read from the imports (``ast``), including imports inside functions:
cli -> playground -> worker -> session -> agent -> providers, tools -> config -> tracing ->
errors, log."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "livekitex_cli"
# each layer may import itself and the layers after it in this list
ORDER = [
    "cli",
    "scenarios",
    "playground",
    "worker",
    "session",
    "agent",
    "providers",
    "tools",
    "config",
    "tasks",
    "tracing",
    "errors",
    "log",
]
# the package root re-exports; session and worker only lazily (by name, on first use)
SIDE = {
    "testing": set(),
    "__main__": {"cli"},
    "__init__": {"agent", "errors", "tools", "session", "worker"},
}


def layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_arrows_point_down() -> None:
    wrong = []
    for path in modules():
        own = layer(path)
        for name in imports(path):
            if not name.startswith("livekitex_cli."):
                continue
            target = name.split(".")[1]
            if own in SIDE:
                allowed = SIDE[own] | {own}
            elif own in ORDER:
                allowed = set(ORDER[ORDER.index(own) :])
            else:
                allowed = set()
            if target == "testing" and own != "testing":
                wrong.append(f"{path.name} imports the test helpers")
            elif target not in allowed and target != own:
                wrong.append(f"{path.relative_to(PACKAGE)} ({own}) imports {name}")
    assert wrong == []


def test_third_party_boundaries() -> None:
    rules = {
        "openai": {"providers"},
        "livekit.rtc": {"worker"},
        "livekit.api": {"worker"},
        "typer": {"cli"},
        "rich": {"cli"},
        "watchfiles": {"worker", "cli"},
        "opentelemetry": {"tracing", "session"},  # imported only when OTEL_* asks for traces
    }
    wrong = []
    for path in modules():
        own = layer(path)
        for name in imports(path):
            for prefix, allowed in rules.items():
                if (name == prefix or name.startswith(prefix + ".")) and own not in allowed:
                    wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if name == "livekit" and own != "worker":
                wrong.append(f"{path.relative_to(PACKAGE)} imports livekit")
    assert wrong == []


def test_nothing_below_cli_exits_the_process() -> None:
    wrong = []
    for path in modules():
        if layer(path) == "cli":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "exit"
                and getattr(node.value, "id", "") == "sys"
            ):
                wrong.append(str(path.relative_to(PACKAGE)))
    assert wrong == []


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > 320
    }
    assert big == {}
