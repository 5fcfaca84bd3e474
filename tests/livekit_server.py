"""The real LiveKit server (built by scripts/install-livekit-server.sh) on loopback, for tests."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from livekitex_cli.worker.devserver import quiet_port

KEY = "lkx-test-key"
SECRET = "lkx-test-secret-that-is-long-enough-for-hs256-0123456789"
CLOSE_GRACE = 2.0  # s a server the tests are done with gets to stop before it is killed


def dev_env(openai_base_url: str, **extra: str) -> dict[str, str]:
    """The environment for ``lkx dev`` with the scripted OpenAI-compatible server at
    ``openai_base_url`` and no ``LIVEKIT_*`` (so it starts a LiveKit server of its own) unless
    ``extra`` sets them."""
    env = {**os.environ, "OPENAI_BASE_URL": openai_base_url, **extra}
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "OPENAI_API_KEY"):
        if name not in extra:
            env.pop(name, None)
    return env


def cached_binary(name: str) -> str | None:
    """``name`` on PATH, else where the install scripts build it (``$LKX_CACHE/bin``)."""
    found = shutil.which(name)
    if found:
        return found
    cache = Path(os.environ.get("LKX_CACHE", Path.home() / ".cache/lkx")) / "bin" / name
    return str(cache) if cache.exists() else None


def server_binary() -> str | None:
    return cached_binary("livekit-server")


def end_process(process: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """Terminate, give it ``grace`` seconds, then kill."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


needs_server = pytest.mark.skipif(
    server_binary() is None,
    reason="livekit-server is not installed (scripts/install-livekit-server.sh builds it)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port where nothing listens and nothing can start to: bound, never listening, so a
    connection is refused (unlike a fixed port such as 8081, which another process may hold)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


UDP_RANGE = 100
_UDP_BASES = range(10_000, 32_000, UDP_RANGE)  # below the kernel's ephemeral ports (32768-)
_LOCKS = Path(tempfile.gettempdir()) / "lkx-test-udp-ranges"


def claim_udp_range() -> tuple[int, int]:
    """A UDP port range for one server: free now, and claimed (an flock held for as long as the
    returned descriptor is open) against every other test server on this machine, since the
    server binds its UDP ports only when participants connect. Returns (base, lock fd)."""
    _LOCKS.mkdir(exist_ok=True)
    bases = list(_UDP_BASES)
    random.shuffle(bases)
    for base in bases:
        fd = os.open(_LOCKS / f"{base}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if all(_udp_free(port) for port in range(base, base + UDP_RANGE)):
            return base, fd
        os.close(fd)
    raise RuntimeError("no free UDP port range for livekit-server")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortTaken(RuntimeError):
    pass


class LiveKitServer:
    """One server process with its own ports; ``stop``/``start`` keep the same ports. With
    ``redis`` (``host:port``) it is one node of a cluster: every node given the same Redis
    shares rooms, participants and agent workers with the others (tests/cluster)."""

    def __init__(self, folder: Path, *, redis: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "livekit.yaml"
        self.log = folder / "livekit.log"
        self.redis = redis
        self.process: subprocess.Popen[bytes] | None = None
        self._udp_lock: int | None = None
        self._choose_ports()

    def _choose_ports(self) -> None:
        self.port = quiet_port()  # below the ephemeral ports, like lkx dev's server
        self._release_udp()
        base, self._udp_lock = claim_udp_range()
        self.udp_ports = range(base, base + UDP_RANGE)
        # the RTC TCP port listens on every address: an ephemeral port (free_port) was taken by
        # some outgoing loopback connection often enough to fail 3 fresh tries in a row; the
        # claimed range lies below the ephemeral ports and is this server's alone (TCP beside UDP)
        self.tcp_port = base
        self.config.write_text(
            f"port: {self.port}\n"
            'bind_addresses: ["127.0.0.1"]\n'
            "rtc:\n"
            f"  tcp_port: {self.tcp_port}\n"
            f"  port_range_start: {base}\n"
            f"  port_range_end: {base + UDP_RANGE - 1}\n"
            "  use_external_ip: false\n"
            "  node_ip: 127.0.0.1\n"
            f"keys:\n  {KEY}: {SECRET}\n"
            "logging:\n  level: info\n"  # job offers and dispatch decisions, for failures
            + (f"redis:\n  address: {self.redis}\n" if self.redis else "")
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0, *, attempts: int = 3) -> None:
        """Start; a port taken in the meantime (a race with other processes) means new ports,
        unless the server ran before (a restart must keep its address)."""
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
                return
            except PortTaken:
                if attempt == attempts - 1 or self.started_once:
                    raise
                self._choose_ports()

    started_once = False

    def _start_once(self, timeout: float) -> None:
        binary = server_binary()
        assert binary is not None
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log.read_text()[-2000:]
                if "address already in use" in output:
                    raise PortTaken(output)
                raise RuntimeError(f"livekit-server exited: {output}")
            try:
                with urllib.request.urlopen(self.http_url, timeout=1) as answer:
                    if answer.status == 200:
                        self.started_once = True
                        return
            except OSError:
                time.sleep(0.05)
        self.kill()  # not left running behind a failed start
        raise RuntimeError("livekit-server did not start in time")

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """Before the first ``start``: hold the server's TCP ports, bound and not listening, so
        that connections are refused and no other process can take them meanwhile (new ports
        are chosen if one was taken already). ``start`` right after this keeps them."""
        while True:
            held = []
            try:
                for port in (self.port, self.tcp_port):
                    sock = socket.socket()
                    held.append(sock)
                    sock.bind(("0.0.0.0" if port == self.tcp_port else "127.0.0.1", port))
                break
            except OSError:
                for sock in held:
                    sock.close()
                self._choose_ports()
        try:
            yield
        finally:
            for sock in held:
                sock.close()

    def _release_udp(self) -> None:
        if self._udp_lock is not None:
            os.close(self._udp_lock)
            self._udp_lock = None

    def close(self) -> None:
        """Stop for good and give the UDP range back (``stop`` keeps it for a restart). A
        server stopped waits for the participants still in its rooms to leave (an agent whose
        process was killed: until it times out); at the end of a test nobody needs that."""
        self.stop(grace=CLOSE_GRACE)
        self._release_udp()

    def stop(self, grace: float = 10.0) -> None:
        end_process(self.process, grace)
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None


@pytest.fixture
def livekit_server(tmp_path: Path) -> Iterator[LiveKitServer]:
    """A real LiveKit server of the test's own (free ports, a claimed UDP range), stopped and
    its range given back afterwards. Conftests import it to offer it."""
    if needs_server.args[0]:
        pytest.skip(needs_server.kwargs["reason"])
    server = LiveKitServer(tmp_path)
    server.start()
    yield server
    server.close()
