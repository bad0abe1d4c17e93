"""Shared fixtures: the real haproxy and dig binaries, skipped with a reason when missing.

CI exports LAB_REQUIRE_HAPROXY=1 (and LAB_REQUIRE_DIG=1): a missing binary is then a failure,
so a green CI run cannot hide a missing install step.
"""
from __future__ import annotations

import os
import shutil

import pytest


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
