"""http-request and http-response rules on real HAProxy 2.6 and on the engine: the same configuration
(tests/support/actions_cases.py), the same requests; byte for byte the same answers (redirects, returns,
denies, rewritten response heads), the same requests reaching the backend (rewritten headers, paths,
queries, methods, in the frontend-then-backend order), the same log lines and the same counters
(dreq, dresp, intercepted, hrsp_*). Then every refused rule line: haproxy -c's messages, located."""
from __future__ import annotations

import re
import time

import pytest
from support.actions_cases import BAD_RULES, CASES, LISTEN, MODE_CONFIGS, WARNED_RULES, ask, config, rule_config
from support.httplog import logged_rows
from support.procs import start_together
from support.recorder import Recorder

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv

from .test_config import run_engine, run_haproxy

NAMES = [c[0] for c in CASES]
FROM_BACKEND = re.compile(rb"\r\n\r\n[A-Z]+ \S+\n\Z")  # the body of the Recorder's answers (its answer())


@pytest.fixture(scope="module")
def both(haproxy_bin):
    """Every case through haproxy, then through the engine: answers, what each backend saw, logs, stats."""
    recs = Recorder(), Recorder()
    ports = free_ports(2)
    procs = start_together((HAProxy.from_text(config(ports[0], recs[0].port), "actions.cfg", binary=haproxy_bin),
                            Balancer.from_text(config(ports[1], recs[1].port))))
    try:
        out = []
        for port, rec, proc in zip(ports, recs, procs):
            answers, seen = {}, {}
            for case in CASES:
                before = len(rec.seen())
                answers[case[0]] = ask(port, case)
                # the Recorder records a request before it answers it ("METHOD PATH" is its body), so an answer
                # that came from it means the request is there; one the proxy made itself (return, deny ...)
                # comes without one, and waiting for it would only wait out the deadline
                deadline = time.monotonic() + 2
                while (time.monotonic() < deadline and len(rec.seen()) == before
                       and FROM_BACKEND.search(answers[case[0]])):
                    time.sleep(0.01)
                seen[case[0]] = rec.seen()[before:]
            out.append([answers, seen, logged_rows(proc, len(CASES) + 2, tail=200), parse_stat_csv(proc.stats_csv())])
        # a line is written when its connection ends, which may be after the count above was reached: each
        # side waits (with a deadline) for as many lines as the other has
        most = max(len(o[2]) for o in out)
        for o, proc in zip(out, procs):
            o[2] = logged_rows(proc, most, tail=200)
        yield [tuple(o) for o in out]
    finally:
        for p in reversed(procs):
            p.stop()
        for r in recs:
            r.close()


@pytest.mark.parametrize("name", NAMES)
def test_the_client_gets_haproxys_answer(both, name):
    (hx, _, _, _), (en, _, _, _) = both
    assert en[name] == hx[name]


@pytest.mark.parametrize("name", NAMES)
def test_the_backend_sees_what_haproxy_sends(both, name):
    (_, hx, _, _), (_, en, _, _) = both
    assert en[name] == hx[name]


def test_the_rules_did_act(both):
    """The answers are the rules' (so the two comparisons above cannot pass on two idle balancers)."""
    answers, seen, _, _ = both[0]
    assert answers["redirect location 301"].startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert b"location: https://lab/slash/x/\r\n" in answers["redirect scheme drop-query append-slash"]
    assert seen["replace-path versions"][0][1] == "/api/v2/users?id=7"
    assert b"x-order: backend\r\nx-order: frontend\r\n" in answers["plain"]


def _row(rows, px, sv):
    return next(r for r in rows if r["pxname"] == px and r["svname"] == sv)


COUNTERS = ("req_tot", "dreq", "dresp", "intercepted", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx",
            "hrsp_other", "stot", "lbtot")


@pytest.mark.parametrize("row", [("fe", "FRONTEND"), ("web", "BACKEND"), ("web", "s1"), ("api", "BACKEND"),
                                 ("status", "BACKEND"), ("status", "s1"), ("rdeny", "BACKEND"), ("rdeny", "s1"),
                                 ("rreturn", "BACKEND")])
def test_counters_are_haproxys(both, row):
    (_, _, _, hx), (_, _, _, en) = both
    want, got = _row(hx, *row), _row(en, *row)
    assert {k: got.get(k) for k in COUNTERS} == {k: want.get(k) for k in COUNTERS}


def test_log_lines_are_haproxys(both):
    """Status, backend/server, termination flags, the request line as received, and the bytes of the
    answers the proxy made itself (a forwarded answer's size differs: README, known differences)."""
    (_, _, hx, _), (_, _, en, _) = both
    keys = ("frontend", "backend", "server", "status", "term", "request")

    def shown(rows):  # a line is written when its stream ends, so lines of two connections may swap
        return sorted((tuple(r[k] for k in keys) + ((r["bytes"],) if r["server"] == "<NOSRV>" else ())
                       for r in rows), key=repr)

    assert shown(en) == shown(hx)
    assert any(r["term"].startswith("LR") for r in hx) and any(r["term"].startswith("PR") for r in hx)


def _pid(text: str) -> str:
    return re.sub(r"\((\d+)\) :", "(PID) :", text)


@pytest.mark.parametrize("line", [b for b, _ in BAD_RULES])
def test_refused_rules_get_haproxys_messages(haproxy_bin, tmp_path, line):
    path = tmp_path / "rule.cfg"
    path.write_text(rule_config(line))
    real, ours = run_haproxy(haproxy_bin, path), run_engine(path)
    assert real[0] == 1 and dict(BAD_RULES)[line] in real[2]  # the message pinned for the engine is haproxy's
    assert ours == real


@pytest.mark.parametrize("line", WARNED_RULES)
def test_warned_rules_get_haproxys_warnings(haproxy_bin, tmp_path, line):
    path = tmp_path / "rule.cfg"
    path.write_text(rule_config(line))
    real, ours = run_haproxy(haproxy_bin, path), run_engine(path)
    assert "[WARNING]" in real[2]
    assert ours == real


@pytest.mark.parametrize("text", MODE_CONFIGS)
def test_rules_of_tcp_proxies_get_haproxys_warning(haproxy_bin, tmp_path, text):
    path = tmp_path / "mode.cfg"
    path.write_text(text)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_a_listen_sections_rules_run_once(haproxy_bin):
    recs = Recorder(), Recorder()
    ports = free_ports(2)
    procs = start_together((HAProxy.from_text(LISTEN.format(port=ports[0], rec=recs[0].port), "li.cfg",
                                              binary=haproxy_bin),
                            Balancer.from_text(LISTEN.format(port=ports[1], rec=recs[1].port))))
    try:
        got = [(ask(port, ("", "GET", "/x", "")), rec.seen()) for port, rec in zip(ports, recs)]
    finally:
        for p in reversed(procs):
            p.stop()
        for r in recs:
            r.close()
    assert got[1] == got[0]
    answer, seen = got[0]
    assert answer.count(b"x-once: 1") == 1 and [h for h in seen[0][2] if h[0].startswith("x-")] == [("x-once", "1")]
