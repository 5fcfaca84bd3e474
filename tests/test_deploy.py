"""The deployment files agree with lkx itself: the container's command is a valid `lkx start`,
the probes hit endpoints the health server has, ports and variables match, the grace period
outlasts the drain, and the autoscaler's metric is one lkx exports. (No Docker engine runs
here: the image itself is not built by the tests.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from typer.main import get_command

from livekitex_cli.agent import load_agents
from livekitex_cli.cli import app
from livekitex_cli.worker import WorkerOptions
from livekitex_cli.worker.health import HealthServer
from livekitex_cli.worker.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "deploy/Dockerfile").read_text()
MANIFESTS = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/lkx.yaml").read_text()))


def entrypoint() -> list[str]:
    (line,) = [line for line in DOCKERFILE.splitlines() if line.startswith("ENTRYPOINT")]
    command: list[str] = json.loads(line.removeprefix("ENTRYPOINT").strip())
    return command


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def deployment() -> dict[str, Any]:
    (found,) = [m for m in MANIFESTS if m["kind"] == "Deployment"]
    return found


def test_the_entrypoint_is_a_valid_lkx_start() -> None:
    command = entrypoint()
    assert command[:2] == ["lkx", "start"]
    start = get_command(app).commands["start"]  # type: ignore[attr-defined]
    context = start.make_context("start", command[2:])  # raises on an unknown option or value
    assert context.params["health_host"] == "0.0.0.0"
    assert "USER lkx" in DOCKERFILE and "--uid 10001" in DOCKERFILE
    assert DOCKERFILE.count("FROM ") == 2  # multi-stage


def test_ports_probes_and_variables_agree() -> None:
    port = int(option(entrypoint(), "--health-port"))
    assert f"EXPOSE {port}" in DOCKERFILE
    pod = deployment()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "health", "containerPort": port}]
    routes = {r.resource.canonical for r in _routes() if r.resource is not None}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    start = get_command(app).commands["start"]  # type: ignore[attr-defined]
    envvars = {p.envvar for p in start.params if getattr(p, "envvar", None)}
    assert {e["name"] for e in container["env"]} <= envvars
    assert pod["securityContext"]["runAsUser"] == 10001


def test_grace_period_outlasts_the_drain() -> None:
    drain = float(option(entrypoint(), "--drain-timeout"))
    pod = deployment()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > drain + pre_stop
    assert deployment()["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_autoscaler_scales_on_an_exported_metric() -> None:
    (hpa,) = [m for m in MANIFESTS if m["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment()["metadata"]["name"]
    (metric,) = hpa["spec"]["metrics"]
    name = metric["pods"]["metric"]["name"]
    exported = set(re.findall(r"# TYPE (\w+) ", _exposition()))
    assert name in exported


def _server() -> HealthServer:
    """A health server over a real worker that has not connected (nothing is started)."""
    agents = load_agents([str(ROOT / "agents/support-agent.yaml")])
    options = WorkerOptions(
        agent_name="support-agent", server_url="ws://127.0.0.1:9", api_key="k", api_secret="s"
    )
    worker = Worker(agents=agents, options={"support-agent": options}, version="test")
    return HealthServer(worker, host="127.0.0.1", port=0)


def _routes() -> list[Any]:
    application = web.Application()
    _server().add_routes(application)
    return list(application.router.routes())


def _exposition() -> str:
    return _server().prometheus()
