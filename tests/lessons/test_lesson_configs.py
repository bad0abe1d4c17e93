"""The lesson's haproxy.cfg files (haproxy/*.cfg) are valid for the engine as they stand, without a warning
(and for real HAProxy 2.6: tests/differential/test_lesson_configs.py)."""
from __future__ import annotations

import pytest
from support.paths import LESSON_CONFIGS, ROOT, lesson_certificates

from labsupport.engine import config


def test_there_are_lesson_configs():
    assert {p.name for p in LESSON_CONFIGS} >= {"myhaproxy.cfg", "weighted.cfg", "leastconn.cfg", "source.cfg"}


@pytest.mark.parametrize("path", LESSON_CONFIGS, ids=lambda p: p.name)
def test_engine_accepts_it_without_warnings(path, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT / "notebooks")  # where the lessons run (lesson 07's map files are there)
    monkeypatch.setenv("LAB_RUN", str(tmp_path))  # and the certificates lesson 07 makes
    lesson_certificates(tmp_path)
    cfg = config.load(str(path))
    assert cfg.warnings == ()
    if path.name.startswith(("edge", "sessions", "ratelimit", "live", "bluegreen", "discovery", "cloud")):  # 07-10: own tests
        return
    be = cfg.proxy("application_nodes")
    assert [s.name for s in be.servers] == ["server01", "server02", "server03", "server04"]
    assert [(s.host, s.port) for s in be.servers] == [("127.0.0.1", 8080 + i) for i in range(4)]
    assert cfg.proxy("http-in").binds[0].port == 3000
