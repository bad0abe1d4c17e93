"""``haproxy -c`` against the engine's ``-c`` on TLS lines: certificates that are missing, not
certificates, an empty folder, a crt-list that is not there, a bad version or ALPN, and the server side
(verify, ca-file, sni, check-sni, ssl-server-verify, crt-base). Exit code, stdout and stderr must agree
(the engine's own "course engine" notes left out), as in test_config.py."""
from __future__ import annotations

import pytest

from labsupport.course.certs import LabCA

from .test_config import run_engine, run_haproxy

HEAD = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
BIND_LINES = [
    "bind :18443 ssl crt {d}/web.pem",
    "bind :18443 ssl crt web.pem",  # relative to crt-base
    "bind :18443 ssl crt {d}/nope.pem",
    "bind :18443 ssl crt {d}/list.txt",
    "bind :18443 ssl crt {d}/ca_only.pem",
    "bind :18443 ssl crt {d}/split.crt",  # the key in split.crt.key, beside it
    "bind :18443 ssl",
    "bind :18443 ssl crt {d}/empty",
    "bind :18443 ssl crt {d}/dir",
    "bind :18443 ssl crt",
    "bind :18443 ssl crt-list {d}/nolist",
    "bind :18443 ssl crt-list {d}/list.txt",
    "bind :18443 ssl crt-list",
    "bind :18443 ssl crt {d}/web.pem ssl-min-ver TLSv9",
    "bind :18443 ssl crt {d}/web.pem ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3",
    "bind :18443 ssl crt {d}/web.pem ssl-min-ver",
    "bind :18443 ssl crt {d}/web.pem alpn",
    "bind :18443 ssl crt {d}/web.pem alpn http/1.1",
    "bind :18443 crt {d}/web.pem",
    "bind :18443 ssl crt {d}/web.pem no-tlsv12",
    "bind :18443 ssl crt {d}/web.pem no-tlsv11",
    "bind :18443 ssl crt {d}/web.pem no-tlsv10 no-tlsv11 no-tls-tickets",
    "bind :18443 ssl crt {d}/web.pem no-tlsv12 no-tlsv13",
    "bind :18443 ssl crt {d}/web.pem force-tlsv12",
    "bind :18443 ssl crt {d}/dir force-tlsv13 no-tlsv13",
    "bind :18443 ssl crt {d}/web.pem ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2",
    "bind :18443 ssl crt {d}/web.pem ssl-min-ver TLSv1.0 no-tlsv11",
    "bind :18443 ssl strict-sni",
    "bind :18443 ssl strict-sni crt {d}/empty",
    "bind :18443 ssl strict-sni crt {d}/dir",
]
SERVER_LINES = [
    "server s1 127.0.0.1:9443 ssl",
    "server s1 127.0.0.1:9443 ssl verify required",
    "server s1 127.0.0.1:9443 ssl verify bogus",
    "server s1 127.0.0.1:9443 ssl verify",
    "server s1 127.0.0.1:9443 ssl verify required ca-file {d}/nope.pem",
    "server s1 127.0.0.1:9443 ssl verify required ca-file {d}/lab_ca.pem sni str(app.lab)",
    "server s1 127.0.0.1:9443 ssl verify none sni",
    "server s1 127.0.0.1:9443 ssl verify none ca-file",
    "server s1 127.0.0.1:9443 ssl verify none sni str(a.lab) check check-sni",
    "server s1 127.0.0.1:9443 ssl verify none sni str(a.lab) check check-sni a.lab",
    "server s1 127.0.0.1:9443 check-ssl check",
    "server s1 127.0.0.1:9443 check-ssl verify none check",
    "server s1 127.0.0.1:9443 no-ssl",
]
GLOBALS = ["", "global\n    ssl-server-verify none\n", "global\n    ssl-server-verify bogus\n",
           "global\n    crt-base /a\n    crt-base /b\n"]


DEFAULT_BIND_OPTIONS = [
    "prefer-client-ciphers no-sslv3 no-tlsv10 no-tlsv11 no-tlsv12 no-tls-tickets",  # Mozilla's "modern"
    "no-sslv3 no-tlsv10 no-tlsv11",
    "ssl-min-ver TLSv1.3",
    "ssl-min-ver",
    "ssl-max-ver TLSv9",
    "bogus",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("tlscfg")
    ca = LabCA(d)
    ca.bundle("web.lab", folder=d, filename="web.pem")
    (d / "ca_only.pem").write_bytes((d / "lab_ca.pem").read_bytes())
    (d / "empty").mkdir()
    issued = ca.issue("split.lab")
    (d / "split.crt").write_bytes(issued.cert_pem)
    (d / "split.crt.key").write_bytes(issued.key_pem)
    ca.crt_dir(d / "dir", "a.lab", "b.lab")
    ca.crt_list(d / "list.txt", [(d / "web.pem", ("x.lab",))])
    return d


def _both(haproxy_bin, path):
    return run_engine(path), run_haproxy(haproxy_bin, path)


@pytest.mark.parametrize("line", BIND_LINES)
def test_bind_lines_agree(haproxy_bin, folder, tmp_path, line):
    path = tmp_path / "b.cfg"
    path.write_text(f"global\n    crt-base {folder}\n" + HEAD + f"frontend fe\n    {line.format(d=folder)}\n"
                    "    default_backend be\nbackend be\n    server s1 127.0.0.1:9443\n")
    ours, real = _both(haproxy_bin, path)
    assert ours == real


@pytest.mark.parametrize("glob", GLOBALS, ids=["none", "verify-none", "verify-bogus", "crt-base-twice"])
@pytest.mark.parametrize("line", SERVER_LINES)
def test_server_lines_agree(haproxy_bin, folder, tmp_path, line, glob):
    path = tmp_path / "s.cfg"
    path.write_text(glob + HEAD + "frontend fe\n    bind :18443\n    default_backend be\nbackend be\n"
                    f"    {line.format(d=folder)}\n")
    ours, real = _both(haproxy_bin, path)
    assert ours == real


@pytest.mark.parametrize("options", DEFAULT_BIND_OPTIONS)
@pytest.mark.parametrize("line", ["bind :18443 ssl crt {d}/web.pem", "bind :18443 ssl crt {d}/web.pem force-tlsv12",
                                  "bind :18443 ssl crt {d}/web.pem no-tlsv13"])
def test_default_bind_options_agree(haproxy_bin, folder, tmp_path, options, line):
    path = tmp_path / "d.cfg"
    path.write_text(f"global\n    ssl-default-bind-options {options}\n" + HEAD +
                    f"frontend fe\n    {line.format(d=folder)}\n    default_backend be\nbackend be\n")
    ours, real = _both(haproxy_bin, path)
    assert ours == real
