"""A pytest plugin: under IMAGEPRISM_STRICT_TESTS=1 a skipped test fails instead.

CI (``.ci/run``) always has ../shared, a browser and every extra, so a skip there
would hide a test that did not run.
"""

from __future__ import annotations

import os

import pytest

STRICT = "IMAGEPRISM_STRICT_TESTS"
"""Set to 1 (``.ci/run`` does), a test that skips fails instead: CI always has ../shared,
a browser and every extra, so a skip there would hide a test that did not run. Only tests
marked ``machine_dependent_skip`` (e.g. chmod checks when running as root) may still skip."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "machine_dependent_skip: may skip under IMAGEPRISM_STRICT_TESTS for a reason of the "
        "machine (its OS, running as root), never for a missing file, browser or extra",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    strict = os.environ.get(STRICT, "") not in ("", "0")
    if strict and report.skipped and not item.get_closest_marker("machine_dependent_skip"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, which {STRICT}=1 does not allow: {reason}"
