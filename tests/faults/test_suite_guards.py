"""The suite's own guards, run on a small suite of their own in a pytest subprocess: in CI a skip
fails unless marked ``optional``; the faults summary counts every outcome and fault kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

def test_passes():
    pass

@pytest.mark.skipif(True, reason="no such binary")
def test_skipped_by_marker():
    pass

def test_skipped_inside():
    pytest.skip("no such extra")

@pytest.mark.optional
@pytest.mark.skipif(True, reason="a nice-to-have")
def test_optional_skip():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    raise AssertionError

@pytest.mark.fault("stall", "reset")
def test_fault_survived():
    pass

@pytest.mark.fault("reset", "garbage")
def test_fault_failed():
    raise AssertionError("did not survive")

@pytest.mark.fault("flood")
def test_fault_errored(broken):
    pass

@pytest.mark.fault("disk full")
@pytest.mark.skipif(True, reason="cannot fill the disk here")
def test_fault_skipped():
    pass
"""
MODULE_SKIP = 'import pytest\n\npytest.skip("nothing here", allow_module_level=True)\n'
INI = """[pytest]
addopts = --strict-markers -p no:cacheprovider
asyncio_default_fixture_loop_scope = function
markers =
    optional: may be skipped in CI
    faults: fault suite
    fault(*kinds): fault kinds
"""


@pytest.fixture(scope="module", params=[False, True], ids=["local", "ci"])
def sample(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[bool, subprocess.CompletedProcess[str]]:
    """The sample suite run once locally and once as in CI."""
    ci: bool = request.param
    suite = tmp_path_factory.mktemp("ci" if ci else "local")
    (suite / "pytest.ini").write_text(INI)
    (suite / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    (suite / "test_sample.py").write_text(SAMPLE)
    (suite / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return ci, done


def outcome_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def summary(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith("faults summary: "))
    counts: dict[str, int] = json.loads(line.removeprefix("faults summary: "))
    return counts


def test_skips_fail_in_ci_unless_optional(sample: tuple[bool, Any]) -> None:
    ci, done = sample
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # one fault test fails on purpose, another errors
    last = outcome_line(done.stdout)
    if ci:  # a skip at setup (a skipif marker) is an error, a skip inside the test a failure
        for name in ("test_skipped_by_marker", "test_fault_skipped"):
            assert f"ERROR test_sample.py::{name} - skipped in CI" in output, output
        assert "FAILED test_sample.py::test_skipped_inside - skipped in CI" in output, output
        assert "no such binary" in output and "no such extra" in output
        assert "FAILED (skipped whole in CI; skip only the tests that need it) " in output
        assert "test_module_skip.py: nothing here" in output
        assert "SKIPPED [1] test_sample.py" in output  # the optional one (and the module)
        assert "2 failed, 2 passed, 2 skipped, 1 xfailed, 3 errors" in last, last
    else:
        assert "1 failed, 2 passed, 5 skipped, 1 xfailed, 1 error" in last, last


def test_faults_summary_counts_every_outcome_and_kind(sample: tuple[bool, Any]) -> None:
    ci, done = sample
    counts = summary(done.stdout)
    assert counts["fault tests survived"] == 1
    assert counts["fault tests failed"] == 1
    assert counts["fault tests errored"] == (2 if ci else 1)  # in CI a skip is an error
    assert counts["fault tests skipped"] == (0 if ci else 1)
    assert counts["fault tests run"] == (4 if ci else 3)
    # injected: every kind of a test that ran; survived: only those no failing test injected
    assert counts["fault kinds injected"] == (5 if ci else 4)
    assert counts["fault kinds survived"] == 1  # "stall": "reset" failed in another test
