"""A real Jaeger (v2, built by scripts/install-jaeger.sh) on loopback, for the tracing tests:
traces in over OTLP/HTTP, in memory, read back through its query API. Every port is free."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.worker.devserver import quiet_port
from tests.livekit_server import cached_binary, end_process


def jaeger_binary() -> str | None:
    return cached_binary("jaeger")


needs_jaeger = pytest.mark.skipif(
    jaeger_binary() is None,
    reason="jaeger is not installed (scripts/install-jaeger.sh builds it)",
)

# all in one, in memory, nothing but OTLP/HTTP in and the query API out (Jaeger's own
# all-in-one default listens on fixed ports and every protocol)
CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {{level: none}}
    logs: {{level: warn}}
extensions:
  jaeger_storage:
    backends:
      memory_store:
        memory: {{max_traces: 1000}}
  jaeger_query:
    storage: {{traces: memory_store}}
    enable_tracing: false  # on by default: Jaeger traces its own queries into localhost:4317
    http: {{endpoint: "127.0.0.1:{query}"}}
    grpc: {{endpoint: "127.0.0.1:{grpc}"}}
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{otlp}"}}
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
"""


class Jaeger:
    def __init__(self, folder: Path) -> None:
        ports: set[int] = set()
        while len(ports) < 3:  # below the ephemeral ports, like every test server's
            ports.add(quiet_port())
        self.otlp_port, self.query_port, grpc = sorted(ports)
        self.config = folder / "jaeger.yaml"
        self.config.write_text(CONFIG.format(otlp=self.otlp_port, query=self.query_port, grpc=grpc))
        self.log = folder / "jaeger.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def otlp_endpoint(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return f"http://127.0.0.1:{self.otlp_port}"

    def start(self, timeout: float = 30.0) -> None:
        binary = jaeger_binary()
        assert binary is not None
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jaeger exited: {self.log.read_text()[-2000:]}")
            try:
                self.query("/api/services")
                if self._otlp_listens():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.close()
        raise RuntimeError(f"jaeger did not start in time: {self.log.read_text()[-2000:]}")

    def _otlp_listens(self) -> bool:
        request = urllib.request.Request(
            f"{self.otlp_endpoint}/v1/traces", data=b"{}", method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # listening, and it answered
        except OSError:
            return False

    def query(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.query_port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())

    def traces(self, service: str) -> list[dict[str, Any]]:
        """Every trace of ``service`` (Jaeger's JSON: spans with references, processes)."""
        data: list[dict[str, Any]] = self.query("/api/traces", service=service, limit="100")["data"]
        return data

    def close(self) -> None:
        end_process(self.process)
