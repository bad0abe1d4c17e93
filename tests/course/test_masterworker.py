"""MasterWorker on the course's engine (real HAProxy runs it in tests/differential/test_reload.py):
start, reload, a refused reload, show proc, the runtime API through the current worker, stop_all."""
from __future__ import annotations

import pytest

from labsupport import lifecycle
from labsupport.course.masterworker import MasterWorker, parse_show_proc
from labsupport.errors import ConfigError, NotRunningError
from tests.support.httpbackend import Backend, free_port


@pytest.fixture
def backend():
    b = Backend("s1")
    yield b
    b.stop()


def text(port: int, server: int) -> str:
    return (f"defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
            f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
            f"backend be\n    server s1 127.0.0.1:{server}\n")


def test_parse_show_proc_reads_master_workers_and_old_workers():
    rows = parse_show_proc(
        "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
        "10              master          2 [failed: 1]   0d00h00m03s     2.6.12-1+deb12u4\n"
        "# workers\n12              worker          0               0d00h00m01s     2.6.12-1+deb12u4\n"
        "# old workers\n11              worker          1               0d00h00m02s     2.6.12-1+deb12u4\n"
        "# programs\n\n")
    assert [(r["pid"], r["type"], r["reloads"], r["old"]) for r in rows] == \
        [(10, "master", 2, False), (12, "worker", 0, False), (11, "worker", 1, True)]
    assert rows[0]["failed"] == 1 and rows[1]["uptime"] == "0d00h00m01s"


def test_the_engine_in_master_worker_mode_reloads_and_refuses_a_bad_file(backend):
    mw = MasterWorker(text(free_port(), backend.port), "mw.cfg", engine=True).start()
    try:
        assert mw.running and mw.reloads_config and mw.kind == "engine"
        first = [r["pid"] for r in mw.show_proc() if r["type"] == "worker"]
        assert len(first) == 1
        new = mw.reload()
        assert new != first[0]
        assert "Name: " in mw.master("@1 show info") and "# pxname" in mw.stats_csv()
        assert mw.snapshot()["servers"][0]["svname"] == "s1"
        with pytest.raises(ConfigError) as err:
            mw.reload(mw.text + "global\n    foo bar\n")
        assert "mw.cfg:12: unknown keyword 'foo' in 'global' section" in str(err.value)
        assert mw.failed == 1 and mw.command("show info").startswith("Name:")
        assert "MasterWorker engine mw.cfg running" in repr(mw)
    finally:
        mw.stop()
    assert not mw.running
    with pytest.raises(NotRunningError):
        mw.master("show proc")


def test_stop_all_stops_a_master_worker(backend):
    mw = MasterWorker(text(free_port(), backend.port), engine=True).start()
    lifecycle.stop_all(("balancer",))
    assert not mw.running
