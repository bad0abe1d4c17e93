"""The lesson's haproxy.cfg files are valid for real HAProxy 2.6 as they stand, and for the engine."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labsupport.engine import config

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "haproxy").glob("*.cfg"))


def test_there_are_lesson_configs():
    assert {p.name for p in CONFIGS} >= {"myhaproxy.cfg", "weighted.cfg", "leastconn.cfg", "source.cfg"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_real_haproxy_accepts_it(path, haproxy_bin):
    r = subprocess.run([haproxy_bin, "-c", "-f", str(path)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "Configuration file is valid" in r.stdout
    assert "WARNING" not in r.stderr and "ALERT" not in r.stderr, r.stderr


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_engine_accepts_it_without_warnings(path):
    cfg = config.load(str(path))
    assert cfg.warnings == ()
    be = cfg.proxy("application_nodes")
    assert [s.name for s in be.servers] == ["server01", "server02", "server03", "server04"]
    assert [(s.host, s.port) for s in be.servers] == [("127.0.0.1", 8080 + i) for i in range(4)]
    assert cfg.proxy("http-in").binds[0].port == 3000
