"""``WorkerOptions``: how a worker connects and how many jobs it takes.

Where each value comes from, first match wins:

| value               | 1. CLI              | 2. environment     | 3. YAML ``worker:`` | default |
|---------------------|---------------------|--------------------|---------------------|---------|
| server_url          | ``--url``           | LIVEKIT_URL        | -                   | -       |
| api_key             | ``--api-key``       | LIVEKIT_API_KEY    | -                   | -       |
| api_secret          | ``--api-secret``    | LIVEKIT_API_SECRET | -                   | -       |
| max_concurrent_jobs | ``--max-jobs``      | -                  | max_concurrent_jobs | 10      |
| drain_timeout       | ``--drain-timeout`` | -                  | drain_timeout       | 60 s    |
| health_check_port   | ``--health-port``   | -                  | health_check_port   | 8081    |
| load_threshold      | -                   | -                  | load_threshold      | 1.0     |
| worker_type, region | -                   | -                  | worker_type, region | room    |
| loop_lag_threshold  | ``--loop-lag``      | LKX_LOOP_LAG       | loop_lag_threshold  | 0.5 s   |
| loop_block_limit    | ``--loop-blocks``   | LKX_LOOP_BLOCKS    | loop_block_limit    | 3       |
| loop_block_window   | ``--loop-window``   | LKX_LOOP_WINDOW    | loop_block_window   | 60 s    |
| isolation           | -                   | -                  | isolation           | none    |

The event loop is blocked when it answers the loop watch (``loopwatch.py``) more than
``loop_lag_threshold`` seconds late (0: not watched); a job that blocks it ``loop_block_limit``
times within ``loop_block_window`` seconds is ended and reported failed. ``isolation: process``
runs each of the agent's jobs in a child process of its own (``isolated.py``).

Secrets belong in the environment: YAML has no field for them. With several agent files, the
YAML values are taken per agent; the CLI and environment apply to all of them.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import Field, SecretStr

from livekitex_cli.config import WorkerSection
from livekitex_cli.errors import ValidationError

if TYPE_CHECKING:
    from livekitex_cli.worker.dispatch import Server

REGION_REFUSED = (
    "is not supported: LiveKit's agent protocol has no region; a worker serves the server it "
    "connects to, so point server_url (LIVEKIT_URL) at that region's server"
)
# one value for the whole process; YAML files served together must not disagree on them
PROCESS_WIDE = ("drain_timeout", "health_check_port", "health_check_host", "loop_lag_threshold")
DEFAULTS: dict[str, Any] = {
    "max_concurrent_jobs": 10,
    "load_threshold": 1.0,  # load = running jobs / max_concurrent_jobs
    "drain_timeout": 60.0,
    "health_check_port": 8081,
    "worker_type": "room",
    "loop_lag_threshold": 0.5,
    "loop_block_limit": 3,
    "loop_block_window": 60.0,
}
ENV = {
    "server_url": "LIVEKIT_URL",
    "api_key": "LIVEKIT_API_KEY",
    "api_secret": "LIVEKIT_API_SECRET",
}


@dataclass(frozen=True)
class Accept:
    accepted: Literal[True] = True


@dataclass(frozen=True)
class Reject:
    reason: str
    accepted: Literal[False] = False


class WorkerOptions(pydantic.BaseModel):
    """The contract's ``WorkerOptions``. ``api_key`` and ``api_secret`` never print."""

    model_config = pydantic.ConfigDict(frozen=True, arbitrary_types_allowed=True)

    entry_point: Callable[..., Awaitable[None]] | None = Field(default=None, repr=False)
    agent_name: str = ""
    server_url: str = ""
    api_key: SecretStr = SecretStr("")
    api_secret: SecretStr = SecretStr("")
    max_concurrent_jobs: int = DEFAULTS["max_concurrent_jobs"]
    worker_type: Literal["room", "publisher"] = "room"
    region: str | None = None
    drain_timeout: float = DEFAULTS["drain_timeout"]
    health_check_port: int = DEFAULTS["health_check_port"]
    health_check_host: str = "127.0.0.1"
    load_threshold: float = DEFAULTS["load_threshold"]
    close_on_participant_leave: bool = True
    loop_lag_threshold: float = DEFAULTS["loop_lag_threshold"]
    loop_block_limit: int = DEFAULTS["loop_block_limit"]
    loop_block_window: float = DEFAULTS["loop_block_window"]
    isolation: Literal["none", "process"] = "none"

    def validate(self) -> WorkerOptions:  # type: ignore[override]
        """The contract's ``validate``: every bad field in one ``ValidationError``."""
        problems: list[tuple[str, str]] = []
        if not self.server_url:
            problems.append(("server_url", "is required (--url or LIVEKIT_URL)"))
        elif not self.server_url.startswith(("ws://", "wss://", "http://", "https://")):
            problems.append(
                ("server_url", f"'{self.server_url}' must start with ws://, wss://, http(s)://")
            )
        if not self.api_key.get_secret_value():
            problems.append(("api_key", "is required (--api-key or LIVEKIT_API_KEY)"))
        if not self.api_secret.get_secret_value():
            problems.append(("api_secret", "is required (LIVEKIT_API_SECRET)"))
        if self.max_concurrent_jobs < 1:
            problems.append(("max_concurrent_jobs", "must be at least 1"))
        if not 0 < self.load_threshold <= 1:
            problems.append(("load_threshold", "must be in (0, 1]"))
        if self.drain_timeout <= 0:
            problems.append(("drain_timeout", "must be positive"))
        if not 0 <= self.health_check_port <= 65_535:
            problems.append(("health_check_port", "must be 0..65535"))
        if self.region:
            problems.append(("region", REGION_REFUSED))
        if self.loop_lag_threshold < 0:
            problems.append(("loop_lag_threshold", "must be 0 (not watched) or positive"))
        if self.loop_block_limit < 1:
            problems.append(("loop_block_limit", "must be at least 1"))
        if self.loop_block_window <= 0:
            problems.append(("loop_block_window", "must be positive"))
        if problems:
            field = ", ".join(name for name, _ in problems)
            reason = "; ".join(f"{name} {why}" for name, why in problems)
            raise ValidationError(field, reason)
        return self

    def server(self) -> Server:
        """The server's API with this worker's key (its jobs use it where the agent's own
        connection does not get through)."""
        from livekitex_cli.worker.dispatch import Server

        key, secret = self.api_key.get_secret_value(), self.api_secret.get_secret_value()
        return Server(self.server_url, key, secret)

    def should_handle_job(
        self,
        job_request: Mapping[str, Any],
        *,
        active_jobs: int,
        load: float,
        draining: bool,
    ) -> Accept | Reject:
        """Accept, or reject with the reason: draining, agent name, capacity, load."""
        if draining:
            return Reject("draining")
        wanted = str(job_request.get("agent_name", ""))
        if wanted != self.agent_name:
            return Reject(f"agent name mismatch: job wants '{wanted}', this is '{self.agent_name}'")
        if active_jobs >= self.max_concurrent_jobs:
            return Reject(f"at capacity ({active_jobs}/{self.max_concurrent_jobs} jobs)")
        if load >= self.load_threshold:
            return Reject(f"over the load threshold ({load:.2f} >= {self.load_threshold:.2f})")
        return Accept()

    @classmethod
    def resolve(
        cls,
        *,
        cli: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        yaml_section: WorkerSection | None = None,
        agent_name: str = "",
    ) -> WorkerOptions:
        """Merge the sources in the documented order: CLI, environment, YAML, defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = dict(DEFAULTS)
        if yaml_section is not None:
            values.update(yaml_section.model_dump(exclude_none=True))
        for field, variable in ENV.items():
            if env.get(variable):
                values[field] = env[variable]
        values.update({k: v for k, v in (cli or {}).items() if v is not None})
        values["agent_name"] = agent_name or values.get("agent_name", "")
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ValidationError(field, err["msg"][:1].lower() + err["msg"][1:]) from None


def process_settings(options: Mapping[str, WorkerOptions], sources: Mapping[str, str]) -> Any:
    """The settings that exist once per process, from per-agent options: they must agree
    (a YAML ``worker:`` section of one agent cannot set the health port of another)."""
    first = next(iter(options.values()))
    for field in PROCESS_WIDE:
        seen = {name: getattr(opts, field) for name, opts in options.items()}
        if len(set(seen.values())) > 1:
            listed = ", ".join(
                f"{sources.get(name, name)} says {value}" for name, value in seen.items()
            )
            reason = (
                f"is one setting for the whole worker process, but the agent files disagree "
                f"({listed}); set it once on the command line"
            )
            raise ValidationError(f"worker.{field}", reason)
    return first
