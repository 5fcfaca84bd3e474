"""A local LiveKit server for ``lkx dev`` when no ``LIVEKIT_URL`` is set (if the binary is here)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from livekitex_cli.errors import ResourceError


@dataclass
class LocalServer:
    url: str
    api_key: str
    api_secret: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def find_server() -> str | None:
    found = shutil.which("livekit-server")
    cached = Path(os.environ.get("LKX_CACHE", Path.home() / ".cache/lkx")) / "bin/livekit-server"
    return found or (str(cached) if cached.exists() else None)


def start_local_server(port: int = 7880, timeout: float = 15.0) -> LocalServer:
    """Start ``livekit-server`` on 127.0.0.1 with a fresh key and secret."""
    binary = find_server()
    if binary is None:
        reason = "no LIVEKIT_URL and no livekit-server binary (scripts/install-livekit-server.sh)"
        raise ResourceError("server", reason)
    key, secret = "dev-" + secrets.token_hex(4), secrets.token_urlsafe(32)
    folder = Path(tempfile.mkdtemp(prefix="lkx-dev-"))
    config = folder / "livekit.yaml"
    config.write_text(
        f"port: {port}\nbind_addresses: [127.0.0.1]\n"
        f"rtc: {{tcp_port: {port + 1}, port_range_start: 50000, port_range_end: 50200, "
        "use_external_ip: false, node_ip: 127.0.0.1}\n"
        f"keys:\n  {key}: {secret}\nlogging: {{level: warn}}\n"
    )
    config.chmod(0o600)
    log = (folder / "livekit.log").open("wb")
    process = subprocess.Popen([binary, "--config", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ResourceError("server", f"livekit-server exited; see {folder / 'livekit.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=1):
                return LocalServer(f"ws://127.0.0.1:{port}", key, secret, process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise ResourceError("server", "livekit-server did not start in time")
