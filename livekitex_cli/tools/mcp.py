"""Tools from MCP servers (the official ``mcp`` SDK, optional extra ``mcp``).

One ``McpServer`` per configured server per process (``servers()``, the pool): its connection
lives in one named task (the SDK's context managers are entered and left there), its tool list
is kept and listed again after ``REFRESH`` seconds or when the server has died (then it is
started again). Each MCP tool becomes a ``FunctionTool``: its input schema is what the LLM
sees and what arguments are validated against (JSON Schema), and it runs through ``run_tool``
like any tool (timeout, errors back to the LLM as text). A server that cannot start is
reported by name and offers nothing; the session goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import pydantic

from livekitex_cli.config.mcp import McpServerSpec
from livekitex_cli.errors import ResourceError, ToolExecutionError
from livekitex_cli.log import get_logger
from livekitex_cli.tools.function_tool import FunctionTool

log = get_logger("tools")
REFRESH = 300.0  # seconds a tool list is trusted


class McpUnavailable(ResourceError):
    def __init__(self, reason: str) -> None:
        super().__init__("mcp", reason)


@dataclass(frozen=True)
class McpProblem:
    server: str
    reason: str

    def __str__(self) -> str:
        return f"MCP server '{self.server}': {self.reason}"


class McpServer:
    """A connection to one MCP server, shared by every session of the process."""

    def __init__(self, spec: McpServerSpec) -> None:
        self.spec = spec
        self.session: Any = None
        self.error: str = ""
        self.tools: list[FunctionTool] = []
        self.listed = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.session is not None

    async def ensure(self) -> list[FunctionTool]:
        """Connected and listed (again, if stale or dead); ``ResourceError`` if it cannot be."""
        async with self._lock:
            if not self.alive:
                await self._start()
            if time.monotonic() - self.listed > REFRESH or not self.listed:
                await self._list()
            return self.tools

    async def _start(self) -> None:
        await self.aclose()
        self._stop = asyncio.Event()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready), name=f"lkx-mcp-{self.spec.name}")
        try:
            async with asyncio.timeout(self.spec.startup_timeout):
                await asyncio.shield(ready)
        except TimeoutError:
            await self.aclose()
            raise McpUnavailable(f"did not start within {self.spec.startup_timeout:g} s") from None
        except McpUnavailable:
            await self.aclose()
            raise
        except Exception as exc:
            await self.aclose()
            raise McpUnavailable(_reason(exc)) from None

    async def _run(self, ready: asyncio.Future[None]) -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
                read, write = await stack.enter_async_context(self._transport(errlog))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.session = session
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - reported through ready / error
            self.error = _reason(exc)
            if not ready.done():
                ready.set_exception(McpUnavailable(self.error))
            elif not self._stop.is_set():
                log.warning(
                    "MCP server died", extra={"server": self.spec.name, "error": self.error}
                )
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.session = None

    def _transport(self, errlog: Any) -> Any:
        spec = self.spec
        if spec.command is not None:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            params = StdioServerParameters(
                command=spec.command[0], args=spec.command[1:], env=spec.env or None, cwd=spec.cwd
            )
            return stdio_client(params, errlog=errlog)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = {}
        for header, variable in spec.headers_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise McpUnavailable(f"environment variable {variable} (for {header}) is not set")
            headers[header] = value
        client = httpx2.AsyncClient(headers=headers, timeout=spec.timeout)
        return _owning(client, streamable_http_client(spec.url or "", http_client=client))

    async def _list(self) -> None:
        try:
            async with asyncio.timeout(self.spec.startup_timeout):
                result = await self.session.list_tools()
        except Exception as exc:
            raise McpUnavailable(f"cannot list tools: {_reason(exc)}") from None
        self.tools = [self._tool(t) for t in result.tools if self.spec.offers(t.name)]
        self.listed = time.monotonic()

    def _tool(self, listed: Any) -> FunctionTool:
        schema = dict(listed.input_schema or {"type": "object", "properties": {}})
        server, name = self, listed.name

        async def call(payload: dict[str, Any]) -> Any:
            return await server.call(name, payload)

        return FunctionTool(
            name=name,
            description=(listed.description or "").strip(),
            fn=call,
            arguments_model=_arguments_model(schema),
            parameters=schema,
            timeout=self.spec.timeout,
            origin=f"mcp:{self.spec.name}",
        )

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        session = self.session
        if session is None or not self.alive:
            raise ToolExecutionError(name, f"MCP server '{self.spec.name}' is not running")
        try:
            result = await session.call_tool(name, arguments)
        except Exception as exc:  # the connection broke (the server died): start it again next
            self.session = None
            self._stop.set()
            reason = f"MCP server '{self.spec.name}': {_reason(exc)}"
            raise ToolExecutionError(name, reason) from exc
        texts = [getattr(part, "text", None) or f"[{part.type}]" for part in result.content]
        text = "\n".join(texts)
        if result.is_error:
            raise ToolExecutionError(name, text or "the MCP tool reported an error")
        if result.structured_content is not None and not text:
            return result.structured_content
        return text

    async def aclose(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            except Exception:  # noqa: BLE001, S110 - closing must not fail
                pass
        self.session = None


@contextlib.asynccontextmanager
async def _owning(client: Any, transport: Any) -> Any:
    async with client, transport as streams:
        yield streams


def _arguments_model(schema: dict[str, Any]) -> type[pydantic.BaseModel]:
    """A model whose only field carries the arguments once they pass the JSON Schema."""
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(schema)

    class Arguments(pydantic.BaseModel):
        payload: dict[str, Any]

        @pydantic.model_validator(mode="before")
        @classmethod
        def _check(cls, data: Any) -> Any:
            problems = [
                f"{'.'.join(map(str, e.absolute_path)) or 'arguments'}: {e.message}"
                for e in validator.iter_errors(data)
            ]
            if problems:
                raise ValueError("; ".join(problems))
            return {"payload": data}

    return Arguments


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_pool: dict[str, McpServer] = {}


def server_for(spec: McpServerSpec) -> McpServer:
    """The process's connection for ``spec`` (one per distinct configuration)."""
    key = spec.model_dump_json()
    if key not in _pool:
        _pool[key] = McpServer(spec)
    return _pool[key]


async def mcp_tools(
    specs: list[McpServerSpec],
) -> tuple[list[FunctionTool], list[McpProblem]]:
    """The tools of every server in ``specs``; a server that fails is a problem, not an error."""
    tools: list[FunctionTool] = []
    problems: list[McpProblem] = []
    for spec in specs:
        try:
            tools += await server_for(spec).ensure()
        except ImportError:
            problems.append(
                McpProblem(spec.name, "the mcp package is missing (pip install lkx[mcp])")
            )
        except McpUnavailable as exc:
            problems.append(McpProblem(spec.name, exc.reason))
    return tools, problems


async def close_servers() -> None:
    for server in list(_pool.values()):
        await server.aclose()
    _pool.clear()
