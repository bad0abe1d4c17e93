"""Every test here runs real HAProxy next to the engine (the oracle): each is marked ``haproxy``, so
``pytest -m "not haproxy"`` leaves them all out, and without the binary they skip (or fail under
LAB_REQUIRE_HAPROXY=1: tests/conftest.py's ``haproxy_bin``)."""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if Path(item.path).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.haproxy)
