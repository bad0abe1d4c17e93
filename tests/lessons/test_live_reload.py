"""Lesson 09's reload pieces on the engine in master-worker mode (real processes, real sockets): a long
request survives a reload and is cut by hard-stop-after; ``memory`` shows what a reload forgets, and what
a ``peers`` section keeps (haproxy/live-peers.cfg)."""
from __future__ import annotations

import time

import pytest
from support.live_lab import PORTS, all_up
from support.paths import ROOT

from labsupport.course.fleet import Fleet
from labsupport.course.masterworker import MasterWorker
from labsupport.course.traffic.sender import send
from labsupport.errors import UsageError
from labsupport.lessons.live.longrequest import LongRequest
from labsupport.lessons.live.memory import memory
from labsupport.lessons.live.servers import servers

LIVE_PEERS = (ROOT / "haproxy" / "live-peers.cfg").read_text()
SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


@pytest.fixture
def lab():
    fleet = Fleet()
    lb = None
    try:
        fleet.start(PORTS, version=1)
        lb = MasterWorker(LIVE_PEERS, ROOT / "haproxy" / "live-peers.cfg", engine=True).start()
        all_up(lb)
        yield lb
    finally:
        if lb is not None:
            lb.stop()
        fleet.stop_all()


def _remembered(lb, text: str) -> list[dict]:
    lb.reload(text)
    send(lb.url, 30, source=SOURCES)
    before = memory(lb, "before")
    lb.reload()
    return memory(lb, "after", earlier=before).rows


def test_a_reload_forgets_counters_and_tables_unless_peers_keep_the_tables(lab):
    before, after = _remembered(lab, LIVE_PEERS.replace(" peers lab ", " "))
    assert before["requests counted (stot)"] == 30 and before["stick-table entries"] == 3
    assert after["requests counted (stot)"] == 0 and after["stick-table entries"] == 0
    assert after["worker pid"] != before["worker pid"]
    before, after = _remembered(lab, LIVE_PEERS)
    assert before["stick-table entries"] == 3 and after["stick-table entries"] == 3
    assert after["requests counted (stot)"] == 0  # peers carry stick tables only
    dump = lab.command("show table www")
    assert all(f"key={s} " in dump and "http_req_cnt=10" in dump for s in SOURCES), dump


def test_a_long_request_survives_a_reload_and_hard_stop_after_cuts_it(lab):
    download = LongRequest(lab.url, seconds=1.5)
    lab.reload()
    assert download.result().startswith("HTTP 200 from 83"), download.result()
    lab.reload(LIVE_PEERS.replace("\nglobal\n", "\nglobal\n    hard-stop-after 200ms\n"))
    download = LongRequest(lab.url, seconds=3)
    deadline = time.monotonic() + 10
    while not any(r.scur for r in servers(lab, "app").values()):  # a server holds it now
        assert time.monotonic() < deadline and not download.done, download
        time.sleep(0.02)
    lab.reload()
    assert download.result().startswith("failed after"), download.result()


def test_wrong_arguments_are_one_line_errors():
    with pytest.raises(UsageError, match="seconds is a number"):
        LongRequest("http://127.0.0.1:9/", seconds=0)
