"""A port held by another user's process: the message names that user, as a student sees it on a shared machine.

A student's account may see another user's listening socket (Linux's /proc/net tables list every socket with
its owner) but not the process behind it. CI holds a port as root before it runs the suite as an ordinary user
and names it in ``LAB_FOREIGN_PORT``; run as root, the test makes such a socket itself, as user nobody.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from labsupport.errors import PortInUseError
from labsupport.ports import free_ports, in_use, socket_owner


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def foreign_port():
    """(port, owner's name) of a socket another user holds on 127.0.0.1."""
    if os.environ.get("LAB_FOREIGN_PORT"):
        port = int(os.environ["LAB_FOREIGN_PORT"])
        assert _listening(port), f"LAB_FOREIGN_PORT={port} but nothing listens there"
        yield port, os.environ.get("LAB_FOREIGN_USER", "root")
        return
    if os.geteuid() != 0 or not shutil.which("setpriv") or not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs a socket of another user: run as root, or set LAB_FOREIGN_PORT (.ci/run does)")
    (port,) = free_ports(1)
    code = ("import socket, time; s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen(); time.sleep(60)" % port)
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                             "-c", code])
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, "nobody's listener did not start"
            time.sleep(0.05)
        yield port, "nobody"
    finally:
        proc.kill()
        proc.wait()


def test_the_socket_owner_is_read_from_the_kernel_tables(foreign_port):
    port, user = foreign_port
    assert socket_owner(port, "127.0.0.1") == user
    (free,) = free_ports(1)
    with socket.socket() as mine:
        mine.bind(("127.0.0.1", free))
        mine.listen()
        assert socket_owner(free, "127.0.0.1") is None  # this account's own socket: its process is known


def test_the_message_names_the_other_user_when_their_process_is_hidden(foreign_port):
    port, user = foreign_port
    err = in_use(port, "127.0.0.1")
    assert isinstance(err, PortInUseError)
    text = str(err)
    assert "\n" not in text
    if os.geteuid() == 0:  # root sees every process (here, one the test started): named, with how to stop it
        assert "pid " in text and "kill " in text and "another user" not in text, text
    else:  # what a student sees
        assert text == (f"port {port} on 127.0.0.1 is already in use by a process of user {user}, another user of "
                        f"this machine (this account may not see which). Ask {user} or your instructor to stop it, "
                        "or choose another port."), text
