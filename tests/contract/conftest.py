"""Report what the fuzz run did at the end of the session, whatever the verbosity."""

from __future__ import annotations

import pytest

FUZZ_SUMMARY: pytest.StashKey[list[str]] = pytest.StashKey()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FUZZ_SUMMARY] = []


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(FUZZ_SUMMARY, [])
    if lines:
        terminalreporter.section("schemathesis fuzzing of the gateway")
        for line in lines:
            terminalreporter.write_line(line)
