"""What a student sees in a real kernel when the course's own errors reach a cell."""
from __future__ import annotations

import re

import pytest
from jupyter_client.manager import start_new_kernel
from support.kernel import execute

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    # On a slow start, wait_for_ready() asks for kernel_info more than once and leaves the extra
    # replies on the shell channel; leave one there on purpose, so run() is tested against it.
    kc.kernel_info()
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code: str) -> tuple[str, list[dict]]:
    """Execute ``code``; the reply's status and every output message (stream, error, ...)."""
    return execute(kc, code, timeout=60)


def errors(outputs: list[dict]) -> list[list[str]]:
    return [[ANSI.sub("", line) for line in o["traceback"]] for o in outputs if o["type"] == "error"]


def test_a_lab_error_reads_as_its_message_a_bug_keeps_its_traceback(kernel):
    status, out = run(kernel, """
        import socket
        from labsupport import Balancer, stop_all
        stop_all()
        squatter = socket.socket(); squatter.bind(("127.0.0.1", 0)); squatter.listen()
        port = squatter.getsockname()[1]
        lb = Balancer.from_text(f"defaults\\n mode http\\nfrontend f\\n bind 127.0.0.1:{port}\\n"
                                f" default_backend b\\nbackend b\\n server s1 127.0.0.1:9\\n").start()
    """)
    assert status == "error"  # Run All stops here: the student must act
    (shown,) = errors(out)
    assert len(shown) == 1, shown  # one block, no frames from the library, asyncio or concurrent.futures
    assert re.fullmatch(r"PortInUseError: port \d+ on 127\.0\.0\.1 is already in use by .+", shown[0], re.S)
    assert "Traceback" not in shown[0] and "asyncio" not in shown[0]

    status, out = run(kernel, "1 / 0")
    (shown,) = errors(out)
    assert status == "error" and len(shown) > 1 and shown[-1].startswith("ZeroDivisionError")


def test_nothing_is_left_to_talk_to_after_a_failed_start(kernel):
    status, out = run(kernel, "lb")
    assert status == "error" and errors(out)[0][-1].startswith("NameError")  # never bound
    status, out = run(kernel, """
        stopped = Balancer.from_text("frontend f\\n bind 127.0.0.1:3999\\n default_backend b\\n"
                                     "backend b\\n server s1 127.0.0.1:9\\n")
        stopped.url
    """)
    (shown,) = errors(out)
    assert status == "error" and len(shown) == 1
    assert shown[0].startswith("NotRunningError: this balancer is not running")


def test_traffic_to_a_port_no_balancer_of_this_kernel_holds_says_so_first(kernel):
    status, out = run(kernel, """
        import http.server, threading
        from labsupport import send
        other = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        run = send(f"http://127.0.0.1:{other.server_port}/", 2)
        print("statuses:", run.counts())
        other.shutdown(); other.server_close()
    """)
    assert status == "ok", out
    text = "".join(o["text"] for o in out if o["type"] == "stream" and o["name"] == "stdout")
    first, *rest = text.splitlines()
    assert first.startswith("Note: no balancer or server of this notebook listens on 127.0.0.1:"), text
    assert "The answers below come from it" in first and rest[-1].startswith("statuses:")
    status, out = run(kernel, "send('http://127.0.0.1:9/', 1)")
    text = "".join(o["text"] for o in out if o["type"] == "stream")
    assert text.startswith("Note: nothing listens on 127.0.0.1:9."), text
