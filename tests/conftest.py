"""Shared fixtures: the real haproxy and dig binaries, skipped with a reason when missing.

CI exports LAB_REQUIRE_HAPROXY=1 (and LAB_REQUIRE_DIG=1): a missing binary is then a failure,
so a green CI run cannot hide a missing install step.

The tests mirror the library: tests/engine, tests/course and tests/lessons test labsupport/engine,
labsupport/course and labsupport/lessons on their own; every test that runs real HAProxy (the
``haproxy_bin`` fixture, directly or through another fixture) lives in tests/differential, which marks
it ``haproxy``. A test elsewhere that asks for ``haproxy_bin`` stops the collection. Helpers shared by
several test modules are in tests/support (``from support.procs import start_together``).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
DIFFERENTIAL = TESTS / "differential"
if str(TESTS) not in sys.path:  # ``import support...`` wherever pytest starts from
    sys.path.insert(0, str(TESTS))


def find_tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def _require(name: str, env: str, install: str) -> str:
    path = find_tool(name)
    if path:
        return path
    reason = f"'{name}' is not installed ({install}); set {env}=1 to make this a failure"
    if os.environ.get(env) == "1":
        pytest.fail(f"{env}=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def haproxy_bin() -> str:
    """Path of the real haproxy binary (the oracle)."""
    return _require("haproxy", "LAB_REQUIRE_HAPROXY", "sudo apt-get install haproxy")


@pytest.fixture(scope="session")
def dig_bin() -> str:
    return _require("dig", "LAB_REQUIRE_DIG", "sudo apt-get install dnsutils")


def pytest_collection_modifyitems(config, items) -> None:
    """Real HAProxy runs only in tests/differential: refuse a test elsewhere that needs ``haproxy_bin``."""
    strays = [item.nodeid for item in items if "haproxy_bin" in getattr(item, "fixturenames", ())
              and not Path(item.path).resolve().is_relative_to(DIFFERENTIAL)]
    if strays:
        raise pytest.UsageError("these tests run real HAProxy (fixture haproxy_bin) but are not in tests/differential/; "
                                "move them there:\n  " + "\n  ".join(strays))


@pytest.fixture
def headless(monkeypatch):
    """The course as ``make test`` runs it (LAB_HEADLESS=1: live loops last a moment), also when pytest was
    started without it: the flag is read once, at import, so the modules that copied it are patched too."""
    import labsupport.course.display.live as live
    import labsupport.course.display.progress as progress
    import labsupport.course.environment as environment
    import labsupport.lessons.load.experiments as experiments

    monkeypatch.setenv("LAB_HEADLESS", "1")
    for module in (environment, live, progress, experiments):
        monkeypatch.setattr(module, "HEADLESS", True)
