"""Probe (labsupport/lessons/beyond/probe.py): a bounded stream of requests, every one recorded, the gap of an
outage measured. From a lab host (a server unplugged and plugged back while it runs) and from this machine
(host=None, the loopback variant: no namespaces needed)."""
from __future__ import annotations

import http.server
import socket
import threading

import pytest
from support.netns import require_netns, wait_until

from labsupport import lifecycle
from labsupport.course.hosts import Lab
from labsupport.errors import LabError, UsageError
from labsupport.lessons.beyond.labsite import serve, url_of, wait_answering
from labsupport.lessons.beyond.probe import Probe


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Hi!! from server local"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_probe_sends_exactly_count_requests(local_server):
    probe = Probe(None, local_server, count=15, interval=0)
    assert probe in lifecycle.running("child")
    probe.wait(30)
    assert [s.i for s in probe.results] == list(range(15))
    assert probe.ok == 15 and probe.failed == 0 and probe.gap() == 0.0
    assert all(s.address == "127.0.0.1" and s.body == "Hi!! from server local" and s.server == "local"
               for s in probe.results)
    assert probe.answered_by() == {"127.0.0.1": 15}
    assert [s.t for s in probe.results] == sorted(s.t for s in probe.results)
    assert not probe.running and probe not in lifecycle.running("child")
    assert repr(probe) == f"<Probe local -> {local_server}: 15/15 done, 0 failed>"
    table = probe.table()
    assert table.title == "15 answered, 0 failed, longest gap 0.00 s"
    assert [row["#"] for row in table] == [0, 14]  # nothing failed: the first and the last


def test_max_seconds_bounds_a_long_stream(local_server):
    probe = Probe(None, local_server, count=20_000, interval=0.05, max_seconds=0.4).wait(30)
    assert 1 <= len(probe.results) < 20_000
    assert probe.results[-1].t <= 0.4


def test_stop_ends_it_early_and_keeps_what_was_recorded(local_server):
    probe = Probe(None, local_server, count=2000, interval=0.02)
    wait_until("a few requests answered", lambda: len(probe.results) >= 3)
    probe.stop()
    kept = len(probe.results)
    assert 3 <= kept < 2000 and not probe.running
    assert probe not in lifecycle.running("child")
    probe.stop()  # a second stop does nothing
    assert len(probe.results) == kept


def test_a_dead_address_counts_as_failures_with_a_gap():
    url = f"http://127.0.0.1:{_closed_port()}/"
    probe = Probe(None, url, count=4, interval=0.01, timeout=0.5).wait(30)
    assert probe.failed == 4 and probe.ok == 0
    assert all("ConnectionRefusedError" in s.error for s in probe.results)
    assert probe.answered_by() == {"": 4}
    assert probe.gap() > 0
    assert [row["answered by"] for row in probe.table()] == ["-"] * 4


def test_wait_that_runs_out_says_how_far_it_got(local_server):
    probe = Probe(None, local_server, count=500, interval=0.05)
    try:
        with pytest.raises(LabError, match=r"still running after 0.05 s \(\d+ of 500 requests done\)"):
            probe.wait(0.05)
    finally:
        probe.stop()


@pytest.mark.parametrize("kwargs, message", [
    ({"count": 0}, "count=0: send between 1 and 20000 requests"),
    ({"count": 20_001}, "count=20001: send between 1 and 20000 requests"),
    ({"interval": -1}, "interval >= 0, timeout in (0, 30] s and max_seconds in (0, 600] s"),
    ({"timeout": 0}, "interval >= 0, timeout in (0, 30] s and max_seconds in (0, 600] s"),
    ({"max_seconds": 601}, "interval >= 0, timeout in (0, 30] s and max_seconds in (0, 600] s"),
])
def test_bad_arguments_are_refused_plainly(kwargs, message):
    with pytest.raises(UsageError) as caught:
        Probe(None, "http://127.0.0.1:9/", **kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize("url", ["ftp://x/", "10.0.0.11", "http:///", None])
def test_a_url_the_client_cannot_use_is_refused_before_anything_starts(url):
    with pytest.raises(UsageError) as caught:
        Probe(None, url, count=1)
    assert str(caught.value) == (f"{url!r}: a probe sends plain HTTP; give http://ADDRESS[:PORT]/PATH, "
                                 "e.g. http://10.0.0.11/")


# ---------------------------------------------------------------- from a lab host
@pytest.fixture(scope="module")
def netns_only():
    require_netns()


@pytest.fixture(scope="module")
def lab(netns_only):
    made = Lab()
    yield made
    made.stop()


def test_a_gap_is_measured_across_an_unplugged_server(lab):
    client, web = lab.host("client", "10.0.0.2"), lab.host("web1", "10.0.0.11")
    url = url_of(web.address)
    wait_answering(client, {"web1": url}, {"web1": serve(web)})
    probe = Probe(client, url, count=400, interval=0.02, timeout=0.25, max_seconds=30)
    try:
        wait_until("ten requests answered", lambda: probe.ok >= 10)
        web.unplug()
        wait_until("three requests failed", lambda: probe.failed >= 3)
        web.plug()
        wait_until("answers again after the plug", lambda: probe.results[-1].ok and probe.failed >= 3)
    finally:
        web.plug()
        probe.stop()
    shots = probe.results
    first_failed = next(k for k, s in enumerate(shots) if not s.ok)
    back = next(k for k in range(first_failed, len(shots)) if shots[k].ok)
    assert all(not s.ok for s in shots[first_failed:back])  # one outage, no answer inside it
    assert probe.gap() == round(shots[back].t - shots[first_failed].t, 3) > 0
    assert probe.answered_by()["10.0.0.11"] == probe.ok and probe.answered_by()[""] == probe.failed
    assert all(s.body == "Hi!! from server 80" for s in shots if s.ok)
    assert repr(probe).startswith(f"<Probe client -> {url}: ") and f"{probe.failed} failed>" in repr(probe)
    rows = probe.table()
    assert rows.title.startswith(f"{probe.ok} answered, {probe.failed} failed, longest gap ")
    assert any(row["error"] for row in rows) and rows[0]["#"] == 0


def test_a_probe_in_a_host_is_bounded_by_count(lab):
    client = lab.hosts.get("client") or lab.host("client", "10.0.0.2")
    probe = Probe(client, "http://10.0.0.99/", count=3, interval=0, timeout=0.2).wait(30)
    assert [s.i for s in probe.results] == [0, 1, 2] and probe.failed == 3  # nobody has 10.0.0.99


def test_a_probe_from_a_stopped_lab_says_the_host_is_gone(netns_only):
    lab = Lab()
    client = lab.host("client", "10.0.0.2")
    lab.stop()
    with pytest.raises(LabError, match="host client is gone: its lab was stopped"):
        Probe(client, "http://10.0.0.11/", count=1)
