"""Fuzzing the config checker: deterministic mutations of the lesson configs in haproxy/.

Every mutation (tests/support/config_fuzz.py) must get a verdict from the engine's ``-c`` -- never a Python
traceback. The verdicts next to real ``haproxy -c``'s: tests/differential/test_config_fuzz.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from support.config_fuzz import COUNT, write_all

from labsupport.engine.config import check


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[tuple[str, Path]]:
    return write_all(tmp_path_factory.mktemp("fuzz"))


def test_every_mutation_gets_a_verdict(written):
    """No Python traceback, whatever the file: an exit code of 0, 1 or 2 and haproxy-style output."""
    failures = []
    for name, path in written:
        try:
            code, out, err = check(str(path), pid="PID", name=path.name)
        except Exception as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if code not in (0, 1, 2) or not (out or err):
            failures.append(f"{name}: exit {code} with no output")
    assert not failures, "\n".join(failures[:20])
    assert len(written) == COUNT
