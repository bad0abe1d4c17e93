"""The course's application server: the seed article's Flask app, completed.

    python3 backends/app.py 8080            ->  GET / answers "Hi!! from server 8080"

The article's listing forgot two lines: the ``@app.route("/")`` decorator (without it Flask
answers 404 for every page) and the ``app.run(...)`` call (without it the script exits at once).
Both are here. The extra endpoints and options below are for later lessons; the default
behaviour is exactly the article's.

    GET /            "Hi!! from server PORT"
    GET /slow?ms=N   the same answer after N ms (to hold a connection open)
    GET /health      200 "OK" (for health checks; not counted as served)
    GET /info        JSON: port, host, pid, requests served, last X-Forwarded-For seen
    GET /admin/health?mode=ok|fail|hang   make /health answer 200, answer 503, or never answer
                     (while / keeps answering); without mode: the current mode
    GET /admin/crash-next                 the next GET / kills this process while answering it
    GET /admin/fail-rate?rate=F           from now on, answer / with 500 for a fraction F (0..1) of requests
    GET /version     the version this server runs (--version), e.g. "1"
Options: --host ADDR (default 127.0.0.1), --delay-ms N, --fail-rate F (0..1: answer 500),
--tls CERT KEY (answer over HTTPS with this certificate (and chain) and key, both PEM files).

Versions (lesson 09, changing a live system): --version V (default 1). Every answer carries a header
``X-Version: V``; given explicitly, the page says it too ("Hi!! from server 8080 (version 2)") and service
mode's JSON has "version". Without --version the page is exactly the article's.

Service mode (lesson 07, one address for many services): --name NAME, e.g. ``--name api-v2``.
    any path but the endpoints above (/health, /info, /admin/health ...): JSON of who answered and what it saw:
    {"service", "port", "method", "path", "query", "host", "headers": [[name, value], ...]}
--https-only (with --name): the application redirects (302) to https:// unless the request says
    X-Forwarded-Proto: https, as many frameworks do behind a balancer.

Session mode (backends/sessions.py, lesson 08): --sessions adds POST /login?user=NAME, GET and POST /cart,
POST /logout: a login and a cart kept in this server's memory, keyed by a SESSIONID cookie.

Capacity mode (backends/capacity.py): --workers N --service-ms MS [--service-dist fixed|exp|pareto]
serves at most N requests of GET / at once, each for a service time of mean MS; the rest wait.
    GET  /admin/capacity             JSON: workers, service time, slowdown, busy, waiting
    POST /admin/slowdown?factor=K    every service time K times longer from now on (1: normal)
"""
from __future__ import annotations

import argparse
import errno
import os
import random
import re
import signal
import socket
import sys
import threading
import time

from flask import Flask, jsonify, redirect, request

from capacity import DISTRIBUTIONS, Capacity  # beside this file
from sessions import register as register_sessions  # beside this file

app = Flask(__name__, static_folder=None)  # no /static/ route of its own: in service mode that path is the balancer's to route
PORT_NUMBER = "?"
OPTIONS = argparse.Namespace(delay_ms=0, fail_rate=0.0, host="127.0.0.1", name=None, https_only=False,
                             sessions=False, version=None)
STATE = {"requests": 0, "x_forwarded_for": None, "started": time.time()}
_lock = threading.Lock()
CAPACITY = Capacity()  # no limit, no service time until the options say otherwise
HEALTH_MODES = ("ok", "fail", "hang")
HEALTH = {"mode": "ok", "crash_next": False}
_health_changed = threading.Condition()
HANG_LIMIT_S = 120  # a hanging /health gives up after this (the balancer's check timed out long before)


def _served() -> None:
    with _lock:
        STATE["requests"] += 1
        STATE["x_forwarded_for"] = request.headers.get("X-Forwarded-For", STATE["x_forwarded_for"])


def _answer(extra_delay_ms: float = 0):
    _served()
    CAPACITY.serve()
    delay = OPTIONS.delay_ms + extra_delay_ms
    if delay:
        time.sleep(delay / 1000)
    if OPTIONS.fail_rate and random.random() < OPTIONS.fail_rate:
        return f"Oops!! server {PORT_NUMBER} failed on purpose\n", 500
    return "Hi!! from server %s%s" % (PORT_NUMBER, f" (version {OPTIONS.version})" if OPTIONS.version else "")


def version() -> str:
    """The version this server runs: --version, else 1."""
    return OPTIONS.version or "1"


@app.after_request
def say_version(response):
    response.headers["X-Version"] = version()
    return response


@app.before_request
def as_a_service():
    """Service mode: every other path answers who served it and what arrived."""
    own = request.url_rule is not None and request.url_rule.rule != "/" and (
        OPTIONS.sessions or request.path not in SESSION_PATHS)  # the session routes are the server's in session mode
    if not OPTIONS.name or own:
        return None  # the server's own endpoints (/health, /info, /slow, /admin/health ...) stay
    if OPTIONS.https_only and request.headers.get("X-Forwarded-Proto", "").lower() != "https":
        _served()
        return redirect("https://" + request.host + request.full_path.rstrip("?"), 302)
    _served()
    return jsonify(service=OPTIONS.name, port=int(PORT_NUMBER), method=request.method, path=request.path,
                   query=request.query_string.decode("latin-1"), host=request.headers.get("Host"),
                   headers=[[k, v] for k, v in request.headers.items()],
                   **({"version": OPTIONS.version} if OPTIONS.version else {}))


SESSION_PATHS = ("/login", "/cart", "/logout")
register_sessions(app, lambda: OPTIONS.name or f"server {PORT_NUMBER}", _served)


@app.before_request
def sessions_only_when_asked():
    """The session routes exist in session mode only: elsewhere they are what they always were."""
    if not OPTIONS.sessions and request.path in SESSION_PATHS:
        return "Not Found\n", 404
    return None


@app.route("/")
def index():
    if HEALTH["crash_next"]:  # on demand: die after reading the request, before any byte of the answer
        sys.stdout.flush()
        os._exit(3)
    return _answer()


@app.route("/version")
def version_page():
    return version() + "\n"


@app.route("/slow")
def slow():
    return _answer(min(float(request.args.get("ms", 1000)), 60_000))


@app.route("/health")
def health():
    with _health_changed:  # a hanging /health waits until the mode changes (bounded)
        _health_changed.wait_for(lambda: HEALTH["mode"] != "hang", HANG_LIMIT_S)
        mode = HEALTH["mode"]
    if mode == "fail":
        return f"sick: server {PORT_NUMBER} was made to fail its health check\n", 503
    return "OK\n"


@app.route("/admin/health")
def admin_health():
    mode = request.args.get("mode")
    if mode is None:
        return HEALTH["mode"] + "\n"
    if mode not in HEALTH_MODES:
        return f"mode must be one of {', '.join(HEALTH_MODES)}, not {mode!r}\n", 400
    with _health_changed:
        HEALTH["mode"] = mode
        _health_changed.notify_all()
    return f"/health of server {PORT_NUMBER} now: {mode}\n"


@app.route("/admin/fail-rate")
def admin_fail_rate():
    try:
        rate = float(request.args.get("rate", ""))
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        return "rate must be a number between 0 and 1\n", 400
    OPTIONS.fail_rate = rate
    return f"server {PORT_NUMBER} now fails {rate:g} of its answers to /\n"


@app.route("/admin/crash-next")
def admin_crash_next():
    HEALTH["crash_next"] = True
    return f"server {PORT_NUMBER} dies while answering its next GET /\n"


@app.route("/info")
def info():
    with _lock:
        return jsonify(port=int(PORT_NUMBER), host=OPTIONS.host, pid=os.getpid(),
                       requests=STATE["requests"], x_forwarded_for=STATE["x_forwarded_for"],
                       uptime_s=round(time.time() - STATE["started"], 3), version=version())


@app.route("/admin/capacity")
def capacity_state():
    return jsonify(CAPACITY.state())


@app.route("/admin/slowdown", methods=["POST"])
def slowdown():
    try:
        CAPACITY.set_slowdown(float(request.args.get("factor", "")))
    except ValueError:
        return jsonify(error="factor must be a number more than 0, e.g. /admin/slowdown?factor=5"), 400
    return jsonify(CAPACITY.state())


def _die_with_parent(parent_pid: int) -> None:
    """Exit when the process that started us dies, even by SIGKILL (a kernel restart)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watchdog() -> None:  # portable fallback, also covers a parent that died before prctl
        while True:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True).start()


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description="Course application server.")
    p.add_argument("port", type=int, help="TCP port to listen on, e.g. 8080")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--delay-ms", type=float, default=0, help="answer every request this much later")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests answered with 500")
    p.add_argument("--workers", type=int, default=0, help="serve at most N requests at once (0: no limit)")
    p.add_argument("--service-ms", type=float, default=0, help="mean service time of one request, in ms")
    p.add_argument("--service-dist", choices=DISTRIBUTIONS, default="fixed", help="service time distribution")
    p.add_argument("--name", help="service mode: answer every path with this name and what the request carried")
    p.add_argument("--https-only", action="store_true",
                   help="with --name: redirect to https unless X-Forwarded-Proto says https")
    p.add_argument("--sessions", action="store_true",
                   help="session mode: a login and a cart in this server's memory (POST /login?user=NAME, /cart)")
    p.add_argument("--version", help="the version this server runs, e.g. 2 (default 1): X-Version header, /version")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate and key")
    p.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a listening socket handed over by labsupport
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)

    def fail(message: str) -> None:  # one clear line, no usage dump, no traceback
        sys.stderr.write(f"app.py: error: {message} (usage: python3 backends/app.py PORT [--host ADDR])\n")
        sys.exit(2)

    p.error = fail  # type: ignore[method-assign]
    a = p.parse_args(argv)
    if not 1 <= a.port <= 65535:
        fail(f"port {a.port} is out of range (1-65535)")
    if not 0 <= a.fail_rate <= 1:
        fail(f"--fail-rate {a.fail_rate} must be between 0 and 1")
    if a.https_only and not a.name:
        fail("--https-only needs --name NAME (service mode)")
    if a.name is not None and not a.name.strip():
        fail("--name needs a name, e.g. --name api-v1")
    if a.version is not None and not re.fullmatch(r"[\w.\-]{1,32}", a.version):
        fail(f"--version {a.version!r}: give a short name like 2 or 1.4.0 (letters, digits, '.', '-', '_')")
    if a.workers < 0 or a.service_ms < 0:
        fail("--workers and --service-ms must be 0 or more")
    if a.tls:
        try:
            a.ssl_context = _tls_context(*a.tls)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            fail(f"--tls {a.tls[0]} {a.tls[1]}: cannot load the certificate and key ({e})")
    else:
        a.ssl_context = None
    return a


def _tls_context(cert: str, key: str):
    """A server-side TLS context from a PEM certificate (chain) and key."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv: list[str] | None = None) -> None:
    global PORT_NUMBER, OPTIONS, CAPACITY
    OPTIONS = _args(sys.argv[1:] if argv is None else argv)
    PORT_NUMBER = str(OPTIONS.port)
    CAPACITY = Capacity(OPTIONS.workers, OPTIONS.service_ms, OPTIONS.service_dist)
    if OPTIONS.parent_pid:
        _die_with_parent(OPTIONS.parent_pid)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl+C (SIGINT, as Fleet.stop sends) stops the server even when whoever started us ignored SIGINT, as a
    # shell does for a command it runs in the background (`make test &`): Python leaves an inherited SIG_IGN
    # alone, and every stop then waited out Fleet's 5 s before a SIGKILL
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if OPTIONS.fd is None:
        try:  # check first so a taken port is one clear line, not werkzeug's traceback
            with socket.create_server((OPTIONS.host, OPTIONS.port)):
                pass
        except OSError as e:
            why = "is already in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
            sys.stderr.write(f"app.py: error: port {OPTIONS.port} on {OPTIONS.host} {why}; "
                             "stop the other server or choose another port\n")
            sys.exit(1)
        app.run(host=OPTIONS.host, port=OPTIONS.port, threaded=True, ssl_context=OPTIONS.ssl_context)
    else:
        from flask.cli import show_server_banner
        from werkzeug.serving import make_server

        server = make_server(OPTIONS.host, OPTIONS.port, app, threaded=True, fd=OPTIONS.fd,
                             ssl_context=OPTIONS.ssl_context)
        show_server_banner(False, "app")
        server.log_startup()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
