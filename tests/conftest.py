"""Fixtures shared by every test folder, and the hooks that keep the suite honest:

- in CI (``CI=true``) a skipped test fails, unless it is marked ``optional``: a missing server
  binary, espeak-ng or extra must not turn a green run into a run that tested less; a module
  skipped whole fails the run at its end (the other tests still run);
- the faults summary counts every fault test, wherever it lives (``faults`` or ``fault(kind)``
  marker, or a file of ``FAULT_FILES``): run, survived, failed, errored and skipped, the distinct
  fault kinds survived, the bad inputs tried and the load test's messages and replies;
- hypothesis runs with a fixed seed in CI (profile ``ci``), a random one locally (``dev``), and
  ``HYPOTHESIS_PROFILE=deep`` digs ten times deeper.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from livekitex_cli.testing import ScriptedOpenAI
from tests.faults.tally import TALLY

FAULT_FILES = (
    "tests/faults/",
    "tests/session/test_provider_faults.py",
    "tests/session/test_voice.py",
    "tests/worker/test_protocol_fake.py",
    "tests/worker/test_worker_live.py",
)
EXAMPLES = 600  # per property test and run (seeded fuzz loops run five times as many)
_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=EXAMPLES, **_COMMON)
settings.register_profile("deep", max_examples=EXAMPLES * 10, **_COMMON)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))


@pytest.fixture(autouse=True)
def _lkx_log_handler_goes_with_the_test() -> Iterator[None]:
    """A CLI run inside the test process installs lkx's log handler on the root logger (and
    sets its level); both go with the test, or later tests' log lines print on the terminal."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.name == "lkx"]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def threaded_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedOpenAI]:
    """The scripted OpenAI-compatible server in its own thread, for tests that run their own
    loop (CLI runs, subprocesses). Sets ``OPENAI_BASE_URL``."""
    with ScriptedOpenAI.in_thread() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield server


# a skip is a failure in CI ---------------------------------------------------------------------


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call":
        _attach_worker_logs(item, report)
    _carry_fault_counts(item, report)
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and in_ci()
        and item.get_closest_marker("optional") is None
    ):
        reason = _skip_reason(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, where nothing may be skipped unless marked optional: {reason}"
        )
    return report


def _attach_worker_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failed test's worker logs (``worker*.log`` in its ``tmp_path``), their last lines, in
    its report: what the worker did is most of what explains a job that never came."""
    folder = getattr(item, "funcargs", {}).get("tmp_path")
    if not isinstance(folder, Path):
        return
    for log in sorted(folder.glob("worker*.log")):
        lines = log.read_text(errors="replace").splitlines()[-40:]
        report.sections.append((f"{log.name} (last {len(lines)} lines)", "\n".join(lines)))


_SKIPPED_MODULES: list[str] = []  # in CI: modules skipped whole, which fail the run at its end


def pytest_collectreport(report: pytest.CollectReport) -> None:
    # failing the collection would stop the whole run: the other tests still run, and the run
    # fails at its end (pytest_sessionfinish)
    if report.skipped and in_ci():
        _SKIPPED_MODULES.append(f"{report.nodeid}: {_skip_reason(report.longrepr)}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_MODULES and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# the faults summary -----------------------------------------------------------------------------
# Counted from the test reports, which is where pytest-xdist's workers send what they found to
# the process that prints the summary: a fault test's kinds and, on its teardown report, what
# it added to TALLY travel in the report's user_properties.

_KINDS: dict[str, tuple[str, ...]] = {}  # nodeid -> the fault kinds the test injects
_OUTCOMES: dict[str, str] = {}  # nodeid -> survived | failed | errored | skipped | known
_TALLIED: dict[str, int] = {}  # TALLY summed over every test's report
_TALLY_BEFORE: dict[str, dict[str, int]] = {}  # nodeid -> TALLY when its setup was reported


def _is_fault_test(item: pytest.Item) -> bool:
    path = str(item.path).replace("\\", "/")
    in_file = any(part in path for part in FAULT_FILES)
    return in_file or item.get_closest_marker("fault") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_fault_test(item):
            item.add_marker(pytest.mark.faults)


def _carry_fault_counts(item: pytest.Item, report: pytest.TestReport) -> None:
    """Where the test ran: its fault kinds, and what it added to TALLY, onto its report."""
    if report.when == "setup":
        _TALLY_BEFORE[item.nodeid] = dict(TALLY)
    elif report.when == "teardown":
        before = _TALLY_BEFORE.pop(item.nodeid, {})
        added = {name: TALLY[name] - before.get(name, 0) for name in TALLY}
        if any(added.values()):
            report.user_properties.append(("lkx_tally", added))
    if item.get_closest_marker("faults") is not None:
        kinds = [str(kind) for mark in item.iter_markers("fault") for kind in mark.args]
        report.user_properties.append(("lkx_fault_kinds", kinds))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    properties = dict(report.user_properties)
    for name, added in properties.get("lkx_tally", {}).items():
        _TALLIED[name] = _TALLIED.get(name, 0) + added
    if "lkx_fault_kinds" not in properties:
        return
    _KINDS[report.nodeid] = tuple(properties["lkx_fault_kinds"])
    before = _OUTCOMES.get(report.nodeid)
    if report.failed:
        now = "failed" if report.when == "call" else "errored"
        if before != "failed":  # a test that failed and then errored in teardown: failed
            _OUTCOMES[report.nodeid] = now
    elif report.skipped:  # an expected failure is a known defect: the fault is not survived
        _OUTCOMES[report.nodeid] = "known" if hasattr(report, "wasxfail") else "skipped"
    elif report.when == "call" and before is None:
        _OUTCOMES[report.nodeid] = "survived"


def faults_summary() -> dict[str, Any]:
    outcomes = list(_OUTCOMES.values())
    ran = [outcome for outcome in outcomes if outcome != "skipped"]
    ran_kinds = [
        (kind, outcome) for nodeid, outcome in _OUTCOMES.items() for kind in _KINDS[nodeid]
    ]
    injected = {kind for kind, outcome in ran_kinds if outcome != "skipped"}
    failed_kinds = {
        kind for kind, outcome in ran_kinds if outcome in ("failed", "errored", "known")
    }
    summary: dict[str, Any] = {
        "fault tests run": len(ran),
        "fault tests survived": outcomes.count("survived"),
        "fault tests failed": outcomes.count("failed"),
        "fault tests errored": outcomes.count("errored"),
        "fault tests failing, known (xfail)": outcomes.count("known"),
        "fault tests skipped": outcomes.count("skipped"),
        "fault kinds injected": len(injected),
        "fault kinds survived": len(injected - failed_kinds),
        **_TALLIED,
    }
    if "load messages planned" in _TALLIED:
        sent = _TALLIED.get("load messages sent", 0)
        summary["load replies lost"] = sent - _TALLIED.get("load replies received", 0)
        summary["load messages not sent"] = _TALLIED["load messages planned"] - sent
    return dict(sorted(summary.items()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _report_ffi_panics(terminalreporter)
    if _OUTCOMES or _TALLIED:
        terminalreporter.write_line("faults summary: " + json.dumps(faults_summary()))
    for module in _SKIPPED_MODULES:
        terminalreporter.write_line(
            f"FAILED (skipped whole in CI; skip only the tests that need it) {module}", red=True
        )


# livekit 1.2.1 answers a native "panic" event by printing "FFI Panic: ..." and sending SIGTERM
# to its own process (rtc/_ffi_client.py). In the test process that ends the whole run, and
# pytest's capture swallows the message: twice a run died that way right after
# tests/worker/test_protocol_fake.py, whose workers run rooms in this process. Here the panic is
# reported (stderr, and a red line with its stack in the summary) instead of killing the run;
# the tests themselves still decide the outcome, and worker processes under test keep the
# library's behaviour. The cause is open (see the closing note of the stop that added this).
_FFI_PANICS: list[str] = []
_CURRENT_TEST = ["(no test yet)"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _CURRENT_TEST[0] = item.nodeid


class _NoSelfTermination:
    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def kill(self, pid: int, sig: int) -> None:
        import signal
        import sys
        import traceback

        if pid == os.getpid() and sig == signal.SIGTERM:
            event = sys._getframe(1).f_locals.get("event")
            message = getattr(getattr(event, "panic", None), "message", "?")
            report = f"during or after {_CURRENT_TEST[0]}: {message}\n" + "".join(
                traceback.format_stack(limit=6)
            )
            _FFI_PANICS.append(report)
            sys.__stderr__.write(
                f"livekit FFI panic in the test process (SIGTERM withheld) {report}"
            )
            return
        os.kill(pid, sig)


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        from livekit.rtc import _ffi_client
    except ImportError:
        return
    _ffi_client.os = _NoSelfTermination()  # type: ignore[assignment]


def _report_ffi_panics(terminalreporter: Any) -> None:
    for stack in _FFI_PANICS:
        terminalreporter.write_line(
            f"WARNING livekit FFI panic in the test process (SIGTERM withheld):\n{stack}", red=True
        )
