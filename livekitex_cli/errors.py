"""The error hierarchy every layer raises, and the exit codes the CLI maps them to.

The seed contract returns ``{:error, {:validation, field, reason}}`` and friends; the Python
form raises one exception class per pattern. Each class knows the exit code ``lkx`` uses for it,
so every command reports failures the same way.

| code | meaning                                                    |
|------|------------------------------------------------------------|
| 0    | success                                                    |
| 1    | invalid input: a bad file, option value, tool or argument  |
| 2    | usage: unknown command or option (Typer/Click's own code)  |
| 3    | cannot connect: a server is unreachable                    |
| 4    | refused credentials: an API key or token was rejected      |
| 5    | an external service or a tool failed, or timed out         |
| 6    | a resource is missing or exhausted (model file, capacity)  |
| 70   | internal error: a bug in lkx (``LKX_DEBUG=1`` shows it)    |
| 130  | interrupted (Ctrl-C)                                       |
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INVALID_INPUT = 1
    USAGE = 2
    CONNECTION = 3
    AUTH = 4
    EXTERNAL = 5
    RESOURCE = 6
    INTERNAL = 70
    INTERRUPTED = 130


class LkxError(Exception):
    """Base of every error lkx raises on purpose. ``str(err)`` is one line, safe to show."""

    exit_code: ExitCode = ExitCode.EXTERNAL


class ValidationError(LkxError):
    """Input that does not satisfy the schema: ``field`` names where, ``reason`` says why."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, field: str, reason: str, *, location: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.location = location
        where = f"{location}: " if location else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{reason}")


class InvalidInstructionsError(ValidationError):
    """Instructions that are empty or longer than the limit."""

    def __init__(self, reason: str) -> None:
        super().__init__("instructions", reason)


class UnknownToolError(ValidationError):
    """A tool name that no registered tool has."""

    def __init__(self, name: str, *, known: list[str] | None = None) -> None:
        self.name = name
        hint = ""
        if known:
            from difflib import get_close_matches

            close = get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
        super().__init__("tools", f"unknown tool '{name}'{hint}")


class InvalidConfigError(ValidationError):
    """A provider section (llm, stt, tts, vad) that its provider rejects."""


class ConnectError(LkxError):
    """A server could not be reached."""

    exit_code = ExitCode.CONNECTION

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthError(ConnectError):
    """A server refused our credentials."""

    exit_code = ExitCode.AUTH


class OperationTimeoutError(LkxError):
    """An operation did not finish in time."""

    exit_code = ExitCode.EXTERNAL

    def __init__(self, operation: str, timeout: float | None = None) -> None:
        self.operation = operation
        self.timeout = timeout
        after = f" after {timeout:g} s" if timeout is not None else ""
        super().__init__(f"{operation} timed out{after}")


class ExternalServiceError(LkxError):
    """A provider, server or tool failed. ``retryable`` says whether trying again can help."""

    exit_code = ExitCode.EXTERNAL

    def __init__(
        self,
        service: str,
        reason: str,
        *,
        retryable: bool = False,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.service = service
        self.reason = reason
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        super().__init__(f"{service}: {reason}")


class ToolExecutionError(ExternalServiceError):
    """A tool raised. The message holds only the exception type and text, safe for the LLM."""

    def __init__(self, tool: str, reason: str) -> None:
        self.tool = tool
        super().__init__(f"tool '{tool}'", reason)


class ResourceError(LkxError):
    """A resource is missing or exhausted: a model file, a capacity limit."""

    exit_code = ExitCode.RESOURCE

    def __init__(self, type: str, reason: str) -> None:  # noqa: A002 - the contract's name
        self.type = type
        self.reason = reason
        super().__init__(f"{type}: {reason}")


class PreflightError(LkxError):
    """Agents whose providers cannot work (found before registering); ``lines`` has one line
    per agent and cause, and the exit code is the first problem's."""

    def __init__(self, lines: list[str], exit_code: ExitCode) -> None:
        self.lines = lines
        self.exit_code = exit_code
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        super().__init__(f"{lines[0]}{more}" if lines else "preflight failed")


def retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 408, 409, 429 and 5xx; other 4xx never."""
    return status in (408, 409, 429) or status >= 500


class InvalidFileError(ValidationError):
    """Every problem found in one file; ``problems`` holds each as its own one-line error."""

    def __init__(self, path: str, problems: list[ValidationError]) -> None:
        self.path = path
        self.problems = problems
        first = problems[0] if problems else None
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            first.field if first else "",
            f"{first.reason if first else 'invalid'}{more}",
            location=first.location if first else path,
        )
