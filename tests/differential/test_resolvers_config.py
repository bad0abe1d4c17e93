"""``resolvers`` sections and ``server-template`` against real HAProxy 2.6: the ``-c`` messages and exit
codes, word for word (the engine's own notes about what it does not do are left out, as in test_config)."""
from __future__ import annotations

import pytest

from .test_config import run_engine, run_haproxy

pytestmark = pytest.mark.haproxy

TEMPLATE = "server-template web 2 app.lab:8080 resolvers lab init-addr none"
# (lines of 'resolvers lab', lines of backend web)
CASES = [
    ("nameserver ns1 127.0.0.1:5353", TEMPLATE),
    ("nameserver ns1", TEMPLATE), ("nameserver ns1 foo:53", TEMPLATE),
    ("nameserver ns1 127.0.0.1:5353\n    nameserver ns1 127.0.0.1:5354", TEMPLATE),
    ("hold valid", TEMPLATE), ("hold bogus 1s", TEMPLATE), ("hold valid 1x", TEMPLATE),
    ("nameserver ns1 127.0.0.1:5353\n    hold valid 1s\n    hold obsolete 2s\n    hold nx 1s", TEMPLATE),
    ("resolve_retries", TEMPLATE), ("resolve_retries 2", TEMPLATE),
    ("timeout resolve", TEMPLATE), ("timeout bogus 1s", TEMPLATE), ("timeout retry 500ms", TEMPLATE),
    ("accepted_payload_size 70000", TEMPLATE), ("accepted_payload_size 8192", TEMPLATE),
    ("bogus 1", TEMPLATE), ("", TEMPLATE),
    # server-template and the server keywords
    ("nameserver ns1 127.0.0.1:5353", "server-template web x app.lab:8080"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 3-1 app.lab:8080"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 0 app.lab:8080"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers nope"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab resolve-prefer ipv5"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab init-addr bogus"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab resolve-opts bogus"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab init-addr 127.0.0.9"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab init-addr libc"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab init-addr last,none"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2-4 127.0.0.1:8080"),
    ("nameserver ns1 127.0.0.1:5353", "server s1 app.lab:8080 resolvers lab"),
    ("nameserver ns1 127.0.0.1:5353", "server-template web 2 app.lab:8080 resolvers lab init-addr none "
                                      "resolve-prefer ipv4 resolve-opts prevent-dup-ip check"),
    ("nameserver ns1 127.0.0.1:5353", "default-server init-addr none resolvers lab\n    server-template w 3 app.lab:80"),
]


def _config(section: str, backend: str) -> str:
    return ("resolvers lab\n" + (f"    {section}\n" if section else "")
            + "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            + "frontend f\n    bind 127.0.0.1:9\n    default_backend web\nbackend web\n" + f"    {backend}\n")


@pytest.mark.parametrize("section,backend", CASES)
def test_resolvers_lines_agree_with_haproxy(haproxy_bin, tmp_path, section, backend):
    path = tmp_path / "dns.cfg"
    path.write_text(_config(section, backend))
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_server_template_in_defaults_is_refused_like_haproxy(haproxy_bin, tmp_path):
    path = tmp_path / "dns.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    "    server-template web 2 app.lab:80\nfrontend f\n    bind 127.0.0.1:9\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
