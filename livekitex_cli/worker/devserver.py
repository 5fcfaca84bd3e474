"""A local LiveKit server for ``lkx dev`` when no ``LIVEKIT_URL`` is set (if the binary is here).

Every port is free at start (signalling, ICE over TCP, one muxed UDP port for media) and lies
below the kernel's ephemeral ports, so two ``lkx dev`` runs side by side each get their own
server and no outgoing connection takes a port before the server binds it."""

from __future__ import annotations

import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from livekitex_cli.errors import ResourceError
from livekitex_cli.providers.local.models import cache_root
from livekitex_cli.worker.child import die_with_parent


@dataclass
class LocalServer:
    url: str
    api_key: str
    api_secret: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    folder: Path | None = field(default=None, repr=False)  # config (with the secret) and log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def find_server() -> str | None:
    found = shutil.which("livekit-server")
    cached = cache_root() / "bin" / "livekit-server"
    return found or (str(cached) if cached.exists() else None)


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 right now (TCP, or UDP with ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_start() -> int:
    """Where the kernel's ports for outgoing connections begin (32768 on most Linux)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _free_everywhere(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - only a check: the server binds it
            except OSError:
                return False
    return True


def quiet_port() -> int:
    """A port free for TCP and UDP on every address, from the band just below the kernel's
    ephemeral ports: an ephemeral one (``free_port``) can be taken by any outgoing connection
    between the check and the server's bind, and on a busy machine was, three tries in a row."""
    top = _ephemeral_start()
    band = range(max(1024, top - 768), top)
    for port in random.sample(band, min(len(band), 64)):
        if _free_everywhere(port):
            return port
    return free_port()


class _PortTaken(Exception):
    pass


def start_local_server(
    port: int | None = None, timeout: float = 15.0, *, attempts: int = 3
) -> LocalServer:
    """Start ``livekit-server`` on 127.0.0.1 with a fresh key and secret, on free ports (or
    signalling on ``port``). A port taken between choosing and binding means new ports."""
    binary = find_server()
    if binary is None:
        reason = "no LIVEKIT_URL and no livekit-server binary (scripts/install-livekit-server.sh)"
        raise ResourceError("server", reason)
    key, secret = "dev-" + secrets.token_hex(4), secrets.token_urlsafe(32)
    folder = Path(tempfile.mkdtemp(prefix="lkx-dev-"))
    try:
        for attempt in range(attempts):
            chosen = port or quiet_port()
            try:
                process = _start_once(binary, folder, chosen, key, secret, timeout)
            except _PortTaken:
                if attempt == attempts - 1 or port:
                    reason = f"port {chosen} or another it chose is taken"
                    raise ResourceError("server", reason) from None
                continue
            return LocalServer(f"ws://127.0.0.1:{chosen}", key, secret, process, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    raise AssertionError("unreachable")  # pragma: no cover


def _start_once(
    binary: str, folder: Path, port: int, key: str, secret: str, timeout: float
) -> subprocess.Popen[bytes]:
    config = folder / "livekit.yaml"
    tcp = quiet_port()
    udp = next((p for p in (quiet_port() for _ in range(8)) if p not in (tcp, port)), tcp + 1)
    config.write_text(
        f"port: {port}\nbind_addresses: [127.0.0.1]\n"
        f"rtc: {{tcp_port: {tcp}, udp_port: {udp}, use_external_ip: false, node_ip: 127.0.0.1}}\n"
        f"keys:\n  {key}: {secret}\nlogging: {{level: warn}}\n"
    )
    config.chmod(0o600)
    log_path = folder / "livekit.log"
    with log_path.open("wb") as log:
        # a process group of its own: Ctrl-C in a terminal reaches the whole foreground group,
        # and the server stopped at once cut the conversations ``lkx dev`` drains (and a
        # worker still connecting retried for 23 s, then failed); its owner stops it last
        process = subprocess.Popen(
            [binary, "--config", str(config)], stdout=log, stderr=log,
            preexec_fn=die_with_parent, process_group=0,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")
            if "address already in use" in output:
                raise _PortTaken(output)
            raise ResourceError("server", f"livekit-server exited: {output[-500:].strip()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=1):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait(5)
    raise ResourceError("server", "livekit-server did not start in time")
