"""Fuzzing the config checker against real haproxy: a fixed subset of the mutations goes through ``haproxy -c``
(two at a time) and through the engine's ``-c``, and the verdicts (exit codes) are compared; the agreement rate
is printed (run pytest with -s to see it). The engine alone on every mutation: tests/engine/test_config_fuzz.py."""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.config_fuzz import COUNT, write_all

from labsupport.engine.config import check

EVERY = 12  # every EVERY-th also goes through real haproxy -c (40 runs)
MIN_AGREEMENT = 0.85  # below this, the engine's verdicts have drifted from haproxy's: look at the list


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[tuple[str, Path]]:
    return write_all(tmp_path_factory.mktemp("fuzz"))


def _haproxy_code(haproxy_bin: str, path: Path) -> int:
    r = subprocess.run([haproxy_bin, "-c", "-f", path.name], cwd=path.parent, capture_output=True, timeout=60,
                       check=False)
    return r.returncode


def test_verdicts_agree_with_haproxy(haproxy_bin, written):
    subset = written[::EVERY]
    with ThreadPoolExecutor(2) as pool:
        real = list(pool.map(lambda item: _haproxy_code(haproxy_bin, item[1]), subset))
    differ = []
    for (name, path), want in zip(subset, real):
        got = check(str(path), pid="PID", name=path.name)[0]
        if got != want:
            differ.append(f"{name}: haproxy exit {want}, engine exit {got}")
    rate = 1 - len(differ) / len(subset)
    print(f"\nconfig fuzz: {COUNT} mutations, {len(subset)} compared with haproxy -c, "
          f"verdicts agree on {rate:.0%}" + "".join(f"\n  {d}" for d in differ))
    assert rate >= MIN_AGREEMENT, "\n".join(differ)
