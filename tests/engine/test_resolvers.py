"""DNS service discovery in the engine, without sockets: the ``resolvers`` section and ``server-template``
as parsed, the hold and assignment rules (proxy/resolver.py's plain functions), MAINT (resolution) in
the health state machine, and where the lab's DNS server lives now."""
from __future__ import annotations

import importlib.util

import pytest

from labsupport.engine.config.parser import analyse
from labsupport.engine.health import Health
from labsupport.engine.proxy.resolver import Resolution, assign
from labsupport.engine.xxh64 import xxh32

HOLD = {"nx": 1000, "other": 1000, "refused": 1000, "timeout": 3000, "valid": 1000, "obsolete": 2000}
CFG = """resolvers lab
    nameserver ns1 127.0.0.1:5353
    nameserver far 192.0.2.1:53
    hold valid 1s
    hold obsolete 2s
    resolve_retries 2
    timeout resolve 500ms
    timeout retry 250ms
    accepted_payload_size 8192
    parse-resolv-conf
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend f
    bind 127.0.0.1:9
    default_backend web
backend web
    server first 127.0.0.1:9000
    server-template web 2-4 app.lab:8080 resolvers lab init-addr none resolve-prefer ipv4 check
    server fixed app.lab:8081 resolvers lab init-addr 127.0.0.9
"""


def test_the_section_and_the_template_as_parsed():
    a = analyse(CFG, "dns.cfg")
    assert a.stage is None
    (r,) = a.config.resolvers
    assert (r.name, r.resolve_retries, r.timeout_resolve, r.timeout_retry, r.accepted_payload_size) == \
        ("lab", 2, 500, 250, 8192)
    assert r.hold["valid"] == 1000 and r.hold["obsolete"] == 2000 and r.hold["nx"] == 30000  # 2.6's default
    assert r.queried == [("127.0.0.1", 5353)]  # the off-machine nameserver is never asked
    servers = a.config.proxy("web").servers
    assert [(s.name, s.id, s.host, s.port, s.fqdn, s.template) for s in servers] == [
        ("first", 1, "127.0.0.1", 9000, None, None),
        ("web2", 2, "", 8080, "app.lab", "web"), ("web3", 3, "", 8080, "app.lab", "web"),
        ("web4", 4, "", 8080, "app.lab", "web"),
        ("fixed", 5, "127.0.0.9", 8081, "app.lab", None)]
    assert all(s.check and s.resolve_prefer == "ipv4" for s in servers[1:4])
    texts = [m.text for m in a.messages]
    assert any("nameserver 'far' at 192.0.2.1 is not on this machine" in t and m.line == 3
               for t, m in zip(texts, a.messages))
    assert any("'parse-resolv-conf'" in t and m.line == 10 for t, m in zip(texts, a.messages))


def test_a_name_without_init_addr_none_is_disabled_with_haproxys_warning():
    text = CFG.replace("init-addr none resolve-prefer ipv4 check", "")
    a = analyse(text, "dns.cfg")
    assert a.stage is None
    warned = [m.text for m in a.messages if "disabling server" in m.text]
    assert warned[0] == "[dns.cfg:21] : 'server web/web2' : could not resolve address 'app.lab', disabling server."
    assert len(warned) == 3


@pytest.mark.parametrize("line,message", [
    ("hold valid 1x", "parsing [dns.cfg:4]: unexpected character 'x' in argument to <hold>."),
    ("hold later 1s", "parsing [dns.cfg:4] : 'hold' unknown <event>: 'later', expects either 'nx', 'timeout', "
                      "'valid', 'obsolete' or 'other'."),
    ("accepted_payload_size 11", "parsing [dns.cfg:4] : 'accepted_payload_size' must be between 12 and 65535 "
                                 "inclusive (was 11)."),
    ("nameservr ns2 127.0.0.1:53", "parsing [dns.cfg:4] : unknown keyword 'nameservr' in 'resolvers' section"),
])
def test_refused_resolvers_lines(line, message):
    a = analyse(CFG.replace("    hold valid 1s\n", f"    {line}\n"), "dns.cfg")
    assert a.config is None
    assert message in [m.text for m in a.messages]


# ----------------------------------------------------------------------------- the rules
def ips(*last: int) -> list[str]:
    return [f"127.0.0.{n}" for n in last]


def test_assign_follows_haproxys_answer_tree():
    """Vectors from HAProxy 2.6.12 (server-template web 1-6, the lab DNS server answering in a fixed order,
    hold obsolete 0s): each row is the answer, then web1..web6's addresses once HAProxy applied it."""
    slots: list[str | None] = [None] * 6
    steps = [
        (ips(11, 12, 13, 14), ips(13, 12, 14, 11) + [None, None]),
        (ips(11, 12, 13, 14, 15, 16), ips(13, 12, 14, 11, 16, 15)),
        (ips(11, 13, 15), [ips(13)[0], None, None, ips(11)[0], None, ips(15)[0]]),
        (ips(17, 11, 13, 15, 18), ips(13, 18, 17, 11) + [None, ips(15)[0]]),
        (ips(21, 22), ips(21, 22) + [None] * 4),
    ]
    for answer, want in steps:
        slots = assign(slots, answer)
        assert slots == want, answer
    assert assign([None, None], ips(11, 12)) == ips(12, 11)  # not the order of the answer
    assert assign([None, None], ips(12, 11)) == ips(12, 11)


def test_xxh32_reference_vectors():
    assert xxh32(b"") == 0x02CC5D05
    assert xxh32(b"a" * 40, 7) != xxh32(b"a" * 40, 8)
    assert xxh32(b"abc") == 0x32D153FF


def test_a_vanished_address_is_kept_for_hold_obsolete():
    r = Resolution(HOLD, "app.lab")
    assert r.update(0.0, "valid", ["a", "b"]) == ["a", "b"]
    assert r.update(1.0, "valid", ["a"]) == ["a", "b"]  # b last seen 1 s ago: kept
    assert r.update(2.0, "valid", ["a"]) == ["a", "b"]  # 2 s: still within hold obsolete
    assert r.update(2.5, "valid", ["a"]) == ["a"]
    assert r.update(3.0, "valid", ["c", "a"]) == ["a", "c"]  # first-seen order


@pytest.mark.parametrize("status,hold", [("nx", 1.0), ("timeout", 3.0), ("refused", 1.0), ("other", 1.0)])
def test_an_error_keeps_the_addresses_for_its_hold_then_drops_them(status, hold):
    r = Resolution(HOLD, "app.lab")
    r.update(10.0, "valid", ["a"])
    assert r.update(10.0 + hold - 0.1, status) == ["a"]
    assert r.update(10.0 + hold, status) is None
    assert list(r.records) == ["a"]  # kept for the next valid answer, which applies hold obsolete
    back = 10.0 + hold + 0.5  # the name answers again: "a" was last seen hold + 0.5 s ago
    assert r.update(back, "valid", ["b"]) == (["a", "b"] if hold + 0.5 <= HOLD["obsolete"] / 1000 else ["b"])
    assert Resolution(HOLD, "x").update(0.0, status) is None  # never valid: nothing to keep


def test_rmaint_in_the_health_state_machine():
    h = Health(rise=2, fall=3, check=True)
    assert h.set_rmaint(True) == "DOWN"
    assert (h.status, h.usable, h.checks_paused, h.op) == ("MAINT (resolution)", False, True, "stopped")
    assert h.check_passed() is None and h.health == 0  # checks are paused
    assert h.set_rmaint(True) is None
    assert h.set_rmaint(False) == "UP"
    assert (h.status, h.health) == ("UP 1/3", 2)
    h.set_admin("maint")
    h.set_rmaint(True)
    assert h.status == "MAINT (resolution)"
    assert h.set_rmaint(False) is None and h.status == "MAINT"  # the operator's maintenance remains


def test_the_lab_dns_server_lives_in_course():
    from labsupport import DNSServer
    from labsupport.course.dnsserver import DNSServer as Moved

    assert DNSServer is Moved
    assert importlib.util.find_spec("labsupport.lessons.dnslab.server") is None
