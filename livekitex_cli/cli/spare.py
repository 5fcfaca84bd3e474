"""``python -m livekitex_cli.cli.spare``: a worker started ahead of need by ``lkx dev``.

Python is up and lkx's own modules and libraries are imported, but no agent file has been
read and no tool imported (tool and provider discovery run on first use). It waits for one
line on stdin, the arguments of ``lkx start`` as a JSON list, then runs that command, so a
reload costs registration, not interpreter start and imports. End of input: it exits.
Its supervisor starts it with SIGINT ignored (``worker.child.supervised``): Ctrl-C in the
terminal is for ``lkx dev``, which ends a spare by closing its stdin and a worker by SIGTERM.
"""

from __future__ import annotations

import importlib
import json
import sys

PRELOAD = (
    "livekitex_cli.cli",
    "livekitex_cli.cli.start_cmd",
    "livekitex_cli.worker.worker",
    "livekitex_cli.worker.room_io",
    "livekitex_cli.session.activity",
    "livekitex_cli.providers.openai.llm",
    "livekitex_cli.providers.openai.speech",
)


def main() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # the real start reports it, with its own message
            pass
    line = sys.stdin.readline()
    if not line.strip():
        return
    sys.argv = ["lkx", "start", *json.loads(line)]
    from livekitex_cli.cli import main as run

    run()


if __name__ == "__main__":
    main()
