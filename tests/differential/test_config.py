"""Differential tests: the engine's ``-c`` check against real ``haproxy -c -f`` (the oracle).

Every corpus file, plus a few inline variations, goes through both. They must agree on the
exit code and stdout, and the engine's stderr without its own "course engine" notes must equal
haproxy's line for line (pids normalised, and the two opening lines, where each names its own program,
version and executable: ``config_corpus.normalise``).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support.config_corpus import ALL, normalise

from labsupport.engine.config import check

pytestmark = pytest.mark.haproxy


def _norm(text: str) -> str:
    return normalise(re.sub(r"\((\d+)\) :", "(PID) :", text))


def run_haproxy(haproxy_bin: str, path: Path) -> tuple[int, str, str]:
    r = subprocess.run([haproxy_bin, "-c", "-f", path.name], cwd=path.parent, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout, _norm(r.stderr)


def run_engine(path: Path) -> tuple[int, str, str]:
    code, out, err = check(str(path), pid="PID", name=path.name, engine_notes=False)
    return code, out, normalise(err)


def alerts(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[ALERT]")]


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_agrees_with_haproxy(haproxy_bin, path):
    real = run_haproxy(haproxy_bin, path)
    ours = run_engine(path)
    assert ours[0] == real[0], f"exit codes differ:\nhaproxy:\n{real[2]}\nengine:\n{ours[2]}"
    assert alerts(ours[2]) == alerts(real[2])
    assert ours == real


TIMES = ["10", "10ms", "10s", "1m", "2h", "1d", "24d", "25d", "10us", "1.5s", "5S", "-1", "0", "2147483647",
         "2147483648", "10x", "5 s", "s5"]


@pytest.mark.parametrize("value", TIMES)
def test_time_values_agree_with_haproxy(haproxy_bin, tmp_path, value):
    path = tmp_path / "t.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout server 5s\n"
                    f"frontend fe\n    bind 127.0.0.1:13999\n    timeout client {value}\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


SERVER_LINES = ["weight 0", "weight 256", "weight 257", "weight -5", "weight abc", "weight",
                "rise 0", "fall -1", "inter 0", "inter 5z", "inter", "id 0", "maxconn x", "chek",
                "check backup disabled", "slowstart 5s", "port 80 check"]


@pytest.mark.parametrize("words", SERVER_LINES)
def test_server_keywords_agree_with_haproxy(haproxy_bin, tmp_path, words):
    path = tmp_path / "s.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
                    "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:13999\n    default_backend be\n"
                    f"backend be\n    server s1 127.0.0.1:18080 {words}\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


BASE = ("defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n"
        "frontend fe\n    bind 127.0.0.1:13999\n    default_backend be\nbackend be\n")
ENV_LINES = ['server s1 "${LAB_TEST_HOST}:8080"', "server s1 ${LAB_TEST_HOST}:8080", 'server s1 "$LAB_TEST_HOST:8080"',
             "server s1 '${LAB_TEST_HOST}:8080'", 'server s1 "${LAB_TEST_UNSET}:8080"', 'server s1 "${LAB_TEST_HOST:8080"',
             'server s1 127.0.0.1:8080 weight "${LAB_TEST_WEIGHT}"',
             # ${NAME-default}: the default only for an unset variable (lesson 05's socket paths use it)
             'server s1 "${LAB_TEST_UNSET-127.0.0.1}:8080"', 'server s1 "${LAB_TEST_HOST-10.9.9.9}:8080"',
             'server s1 "${LAB_TEST_EMPTY-127.0.0.1}:8080"', 'server s1 "${LAB_TEST_UNSET-}127.0.0.1:8080"',
             'server s1 "${LAB_TEST_UNSET-127.0.0.1:8080"', 'server s1 "${LAB.TEST}127.0.0.1:8080"',
             'server s1 127.0.0.1:8080 weight ${LAB_TEST_UNSET-7}']


@pytest.mark.parametrize("line", ENV_LINES)
def test_environment_expansion_agrees_with_haproxy(haproxy_bin, tmp_path, monkeypatch, line):
    monkeypatch.setenv("LAB_TEST_HOST", "127.0.0.1")
    monkeypatch.setenv("LAB_TEST_WEIGHT", "300")
    monkeypatch.setenv("LAB_TEST_EMPTY", "")
    monkeypatch.delenv("LAB_TEST_UNSET", raising=False)
    path = tmp_path / "env.cfg"
    path.write_text(BASE + f"    {line}\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


CONDITIONS = [".if defined(LAB_TEST_HOST)", ".if !defined(LAB_TEST_HOST)", ".if streq(\"$LAB_TEST_HOST\",127.0.0.1)",
              ".if version_atleast(2.6)", ".if version_before(2.6.12)", ".if feature(OPENSSL) && !feature(QUIC)",
              ".if 0 || 1", ".if (1 && 0) || 0", ".if strneq(a,a)", ".if", ".if bar 1", ".if 1 foo", ".if (1",
              ".if !"]
# haproxy words these errors in ways the engine does not copy: the same verdict and location suffice
CONDITIONS_VERDICT = [".if defined(", ".if 1 &&", ".if 1 ||", ".if streq(a)", ".if nope(1)"]


@pytest.mark.parametrize("cond", CONDITIONS)
def test_conditions_agree_with_haproxy(haproxy_bin, tmp_path, monkeypatch, cond):
    monkeypatch.setenv("LAB_TEST_HOST", "127.0.0.1")
    path = tmp_path / "cond.cfg"
    path.write_text(f"{cond}\n.warning taken\n.else\n.warning 'not taken'\n.endif\n" + BASE
                    + "    server s1 127.0.0.1:8080\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


@pytest.mark.parametrize("cond", CONDITIONS_VERDICT)
def test_condition_errors_agree_with_haproxy(haproxy_bin, tmp_path, cond):
    path = tmp_path / "cond.cfg"
    path.write_text(f"{cond}\n.endif\n" + BASE + "    server s1 127.0.0.1:8080\n")
    real, ours = run_haproxy(haproxy_bin, path), run_engine(path)
    assert ours[0] == real[0] == 1
    assert [a[:40] for a in alerts(ours[2])] == [a[:40] for a in alerts(real[2])]


def test_directory_agrees_with_haproxy(haproxy_bin, tmp_path):
    """-f DIR reads the *.cfg files in it in lexical order."""
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "20-backend.cfg").write_text("backend be\n    server s1 127.0.0.1:8080 weight 300\n")
    (d / "10-front.cfg").write_text(BASE.rsplit("backend be\n", 1)[0])
    (d / "notes.txt").write_text("not a config\n")
    real = subprocess.run([haproxy_bin, "-c", "-f", "conf.d"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    code, out, err = check(str(d), pid="PID", name="conf.d", engine_notes=False)
    assert (code, out, normalise(err)) == (real.returncode, real.stdout, _norm(real.stderr))
    (d / "20-backend.cfg").write_text("backend be\n    server s1 127.0.0.1:8080\n")
    real = subprocess.run([haproxy_bin, "-c", "-f", "conf.d"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    code, out, err = check(str(d), pid="PID", name="conf.d", engine_notes=False)
    assert (code, out, normalise(err)) == (real.returncode, real.stdout, _norm(real.stderr))


NON_ASCII = ["server s1 127.0.0.1:８０８０", "timeout server 5²s", "server s1 localhost:808²", "server s1 127.0.0.1:80 weight ①",
             "server s1 127.0.0.1:80 id ２"]


@pytest.mark.parametrize("line", NON_ASCII)
def test_non_ascii_digits_agree_with_haproxy(haproxy_bin, tmp_path, line):
    """Digits are ASCII only. HAProxy names the offending byte, the engine the character: compare
    the exit code and where each alert points."""
    path = tmp_path / "digits.cfg"
    path.write_text(BASE + f"    {line}\n", encoding="utf-8")
    r = subprocess.run([haproxy_bin, "-c", "-f", path.name], cwd=tmp_path, capture_output=True, timeout=60)
    code, _, err = run_engine(path)
    assert code == r.returncode
    where = lambda text: re.findall(r"\[digits\.cfg:\d+\]", text)  # noqa: E731
    assert where(err) == where(r.stderr.decode("latin-1"))


BACKEND_LINES = ["hash-balance-factor 150", "hash-balance-factor 100", "hash-balance-factor 0",
                 "hash-balance-factor 50", "hash-balance-factor", "hash-balance-factor abc",
                 "balance random(3)", "balance random(0)"]


@pytest.mark.parametrize("line", BACKEND_LINES)
def test_backend_keywords_agree_with_haproxy(haproxy_bin, tmp_path, line):
    path = tmp_path / "b.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
                    "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:13999\n    default_backend be\n"
                    f"backend be\n    {line}\n    server s1 127.0.0.1:18080\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


# ----- the ACL language (engine/sample): HAProxy's messages for every kind of mistake, and what it accepts
ACL_LINES = ["acl a pathbeg /api", "acl a path -m foo /x", "acl a hdr(host,1,2) x", "acl a src 300.1.1.1",
             "acl a hdr_cnt(host) gt x", "acl a hdr_cnt 1:x", "acl a path,nosuch /x", "acl a int() 1", "acl a nosuch",
             "acl a path(x) /a", "acl a hdr(host", "acl a path,lower(1) /a", "acl a path,map() x",
             "acl a path,map(nosuch.map) x", "acl a path -f /nonexistent/list", "acl a path -x /X",
             "acl a src 10.0.0.0/33", "acl a path_beg", "acl a hdr(host)", "acl a path -m found",
             "acl a path,lower,upper /X", "acl a req.hdr(host) -m dom lab", "acl a method GET HEAD",
             "acl a path -m len gt 5", "acl a hdr_val(x) lt 3", "acl a path -i -- -x", "acl a.b path /",
             "use_backend be if { pathbeg /x }", "use_backend be if path_beg /a", "use_backend be if { path_beg /a",
             "use_backend be if { res.hdr(x) foo }", "use_backend be if { hdr_cnt(host,1) 2 }",
             "use_backend %[path,nosuch]", "use_backend %[nosuch]", "use_backend %[path", "use_backend %[]",
             "use_backend %[path,lower(1)]", "use_backend %[req.hdr(host,1,2)]", "use_backend %[path,map(nosuch.map)]",
             "use_backend %[path]x", "use_backend x%[path]", "use_backend be if { path_beg /a } ||",
             "use_backend be if ! { path / } or !{ path /x }", "use_backend be if METH_GET LOCALHOST"]


@pytest.mark.parametrize("line", ACL_LINES)
def test_acl_lines_agree_with_haproxy(haproxy_bin, tmp_path, line):
    path = tmp_path / "acl.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n"
                    f"frontend fe\n    bind 127.0.0.1:13999\n    {line}\n    default_backend be\n"
                    "backend be\n    server s1 127.0.0.1:18080\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
