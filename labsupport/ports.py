"""Ports: free ones, and who holds a taken one, told from the student's side. Below both halves.

How it works: ``listener()`` finds the socket that holds (host, port): one bound to that exact address
first, then one bound to every address (0.0.0.0, ::), which holds the port on each address too. Its
process is then placed, in this order: this notebook's kernel or something it started (found in
``lifecycle``'s registry, named with the variable that holds it when the notebook has one); another
Jupyter kernel or a process one started (its ``kernel-<id>.json`` names the kernel, and the Jupyter
servers' ``/api/sessions`` name its notebook); any other program; a socket whose process this account
may not see. ``in_use()`` turns that into a ``PortInUseError`` whose hint, when followed, frees the port.
"""
from __future__ import annotations

import collections
import json
import os
import re
import socket
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import lifecycle
from .errors import PortInUseError

EVERY_ADDRESS = ("0.0.0.0", "::", "")
RUNNING_PANEL = "JupyterLab's Running panel (left sidebar, 'Running Terminals and Kernels')"
_KERNEL_FILE = re.compile(r"kernel-([0-9A-Za-z-]+)\.json$")


@dataclass(frozen=True)
class Listener:
    """A socket bound to ``host``:``port``; ``pid`` is None when this account may not see whose it is."""

    host: str
    port: int
    pid: int | None


@dataclass(frozen=True)
class Holder:
    """Who holds a port, from the student's side: ``who`` completes "in use by ...", ``hint`` frees it."""

    listener: Listener | None
    who: str
    hint: str


def listener(port: int, host: str = "127.0.0.1") -> Listener | None:
    """The socket holding ``port`` on ``host``: bound to exactly ``host`` first, else to every address.

    ``host`` '' or '*' or 0.0.0.0 (every address) is held by a socket on any address of the port.
    TCP listeners first, then UDP sockets (a DNS server's). None when none can be seen."""
    try:
        import psutil

        conns = psutil.net_connections(kind="inet")
    except Exception:  # psutil refused (some systems need privileges): the caller says "another program"
        return None
    found = [Listener(c.laddr.ip, c.laddr.port, c.pid) for c in conns
             if c.laddr and c.laddr.port == port and not c.raddr
             and (c.status == psutil.CONN_LISTEN or c.type == socket.SOCK_DGRAM)]
    found.sort(key=lambda lst: lst.pid is None)  # one whose process is known first
    wild = host in EVERY_ADDRESS or host == "*"
    for ok in ((lambda a: a == host), (lambda a: a in EVERY_ADDRESS), (lambda a: wild)):
        for lst in found:
            if ok(lst.host):
                return lst
    return None


def command(pid: int) -> str:
    """A process's command line, short and the same on every machine: "python3 app.py 8080"."""
    import psutil

    p = psutil.Process(pid)
    args = [Path(a).name for a in p.cmdline() if not a.startswith("-")][:3]
    if args and re.fullmatch(r"python[\d.]*", args[0]):
        args[0] = "python3"  # whatever the venv calls it
    return " ".join(args) or p.name()


def port_holder(port: int, host: str = "127.0.0.1") -> str | None:
    """Describe the process holding ``port`` on ``host`` ("python3 app.py 8080 (pid 1234)"), if found."""
    lst = listener(port, host)
    if lst is None or lst.pid is None:
        return None
    try:
        return f"{command(lst.pid)} (pid {lst.pid})"
    except Exception:
        return f"pid {lst.pid}"


# ---------------------------------------------------------------- this notebook's own things
_NAMES = {"server": "an application server", "HAProxy": "real HAProxy", "Balancer": "a Balancer",
          "DNSServer": "a DNSServer"}


def _registered(pid: int, port: int, host: str) -> tuple[str, object] | None:
    """(kind, thing) of what ``lifecycle`` knows that holds ``port`` in process ``pid``."""
    fits = []
    for kind in ("balancer", "dns", "server"):  # the kinds that listen (not traffic, children, widgets)
        for thing in lifecycle.running(kind):
            # a process of its own (an application server, real haproxy), or a thread of this kernel
            if (getattr(thing, "pid") if hasattr(thing, "pid") else os.getpid()) != pid:
                continue
            ports = getattr(thing, "ports", None) if not hasattr(thing, "port") else [thing.port]
            if port in (ports or ()):
                fits.append((kind, thing))
    fits.sort(key=lambda kt: getattr(kt[1], "host", host) != host)  # the one on this exact address first
    return fits[0] if fits else None


def _user_namespace() -> dict:
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return getattr(shell, "user_ns", None) or {}


def stop_call(thing: object) -> str | None:
    """The call that stops ``thing`` through a variable the notebook has: ``lb.stop()``, or
    ``fleet.stop("127.0.0.3:8080")`` for a server of a Fleet; None when no variable holds it."""
    ns = {k: v for k, v in _user_namespace().items() if not k.startswith("_")}
    for name, value in ns.items():
        if value is thing:
            return f"{name}.stop()"
    for name, value in ns.items():
        if isinstance(getattr(type(value), "servers", None), property) and callable(getattr(value, "stop", None)):
            try:
                if any(s is thing for s in value.servers):
                    return f'{name}.stop("{thing.host}:{thing.port}")'
            except Exception:
                continue
    return None


def _own(pid: int, port: int, host: str, cmd: str) -> Holder | None:
    found = _registered(pid, port, host)
    everything = "stop_all() stops everything this notebook started"
    if found is None:
        if pid == os.getpid():
            return Holder(None, f"this notebook's own kernel (pid {pid}), not by anything the course started",
                          "Close the socket your code opened on it, or restart the kernel (Kernel → Restart Kernel)")
        return Holder(None, f"a process this notebook's kernel started ({cmd}, pid {pid})",
                      f"Stop it (kill {pid} in a terminal), or restart the kernel (Kernel → Restart Kernel)")
    kind, thing = found
    what = _NAMES.get(kind if kind == "server" else type(thing).__name__, f"a {type(thing).__name__}")
    where = f"{cmd}, pid {pid}" if pid != os.getpid() else "it runs inside this kernel"
    call = stop_call(thing)
    hint = f"Stop it with {call}, or {everything}" if call else f"Stop it: {everything}"
    return Holder(None, f"{what} this notebook started ({where})", hint)


# ---------------------------------------------------------------- another notebook's kernel
def _kernel_file(p) -> str | None:
    """The connection file of an ipykernel process (``-f .../kernel-<id>.json``), else None."""
    args = p.cmdline()
    if not any("ipykernel" in a for a in args):
        return None
    for i, a in enumerate(args):  # -f PATH, --f=PATH (a Jupyter server's are kernel-<id>.json)
        if a in ("-f", "--f") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(("-f=", "--f=")) or (a.endswith(".json") and a.startswith("-f")):
            return a.split("=", 1)[-1] if "=" in a else a[2:]
    return None


def _kernel_of(pid: int):
    """(kernel process, its connection file) when ``pid`` is a Jupyter kernel or a process one started
    (a parent, or the ``--parent-pid`` the course's servers carry); else None."""
    import psutil

    p = psutil.Process(pid)
    chain = [p, *p.parents()]
    m = re.search(r"--parent-pid[= ](\d+)", " ".join(p.cmdline()))
    if m and psutil.pid_exists(int(m.group(1))):
        chain.insert(1, psutil.Process(int(m.group(1))))
    for q in chain:
        try:
            path = _kernel_file(q)
        except psutil.Error:
            continue
        if path:
            return q, path
    return None


def notebook_of(kernel_file: str, timeout: float = 2.0) -> str | None:
    """The path of the notebook whose kernel has this connection file, asked of every running Jupyter
    server (``/api/sessions``) this account can find; None when none knows it."""
    found = _KERNEL_FILE.search(kernel_file)
    if found is None:  # a kernel started without a Jupyter server (an IDE, a script, nbval)
        return None
    kernel_id = found.group(1)
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    servers, seen = [], set()
    for runtime in (str(Path(kernel_file).parent), None):  # the kernel's own server writes beside it
        try:
            servers += [s for s in list_running_servers(runtime) if s.get("url") not in seen]
        except Exception:
            continue
        seen |= {s.get("url") for s in servers}
    for info in servers:
        req = urllib.request.Request(info["url"].rstrip("/") + "/api/sessions",
                                     headers={"Authorization": f"token {info.get('token', '')}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                sessions = json.loads(r.read())
        except Exception:
            continue
        for s in sessions:
            if (s.get("kernel") or {}).get("id") == kernel_id:
                return s.get("path") or (s.get("notebook") or {}).get("path")
    return None


def _other_kernel(pid: int, cmd: str) -> Holder | None:
    found = _kernel_of(pid)
    if found is None:
        return None
    kernel, kernel_file = found
    itself = kernel.pid == pid  # its Balancer or DNSServer runs inside it
    thing = ("an application server" if re.search(r"\bapp\.py\b", cmd) else
             "real HAProxy" if re.match(r"haproxy\b", cmd) else cmd)
    notebook = notebook_of(kernel_file)
    if notebook:
        name = Path(notebook).name
        course = itself or re.search(r"\bapp\.py\b|\bhaproxy\b", cmd)  # what stop_all() there stops
        also = ", or run stop_all() in that notebook" if course else ""
        who = (f"the kernel of notebook {name} (pid {pid})" if itself
               else f"{thing} that the kernel of notebook {name} started (pid {pid})")
        return Holder(None, who, f"Shut that kernel down: {RUNNING_PANEL} → shut down {name}{also}")
    who = (f"another Jupyter kernel (pid {pid}) that no running Jupyter server lists" if itself
           else f"{thing} (pid {pid}) of another Jupyter kernel (pid {kernel.pid}) that no running Jupyter "
                "server lists")
    return Holder(None, who, f"Shut that kernel down (Kernel → Shut Down Kernel in its notebook), or stop it "
                             f"from a terminal: kill {pid}")


# ---------------------------------------------------------------- another user's process
def _proc_address(hexa: str) -> str:
    """/proc/net/tcp's address (hex, in the kernel's byte order) as text: '0100007F' -> '127.0.0.1'."""
    raw = bytes.fromhex(hexa)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    text = socket.inet_ntop(socket.AF_INET6, words)
    return "::" if text == "::" else text.removeprefix("::ffff:")


def socket_owner(port: int, host: str) -> str | None:
    """The user owning the socket bound to ``host``:``port`` when it is not this account (Linux's /proc/net
    tables give every socket's owner, even where its process may not be seen); None otherwise."""
    for table, listening in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 8 or f[3] != listening or ":" not in f[1]:
                continue
            address, hex_port = f[1].rsplit(":", 1)
            try:
                if int(hex_port, 16) != port or _proc_address(address) not in (host, *EVERY_ADDRESS):
                    continue
                uid = int(f[7])
            except ValueError:
                continue
            if hasattr(os, "getuid") and uid == os.getuid():
                return None
            try:
                import pwd

                return pwd.getpwuid(uid).pw_name
            except (ImportError, KeyError):
                return f"uid {uid}"
    return None


# ---------------------------------------------------------------- putting it together
def holder(port: int, host: str = "127.0.0.1") -> Holder:
    """Who holds ``port`` on ``host``, and what frees it (hint without the site's own alternative)."""
    lst = listener(port, host)
    if lst is None:
        return Holder(None, "another program", "Stop that program")
    if lst.pid is None:
        user = socket_owner(port, lst.host)
        if user is not None:
            return Holder(lst, f"a process of user {user}, another user of this machine (this account may not "
                               "see which)", f"Ask {user} or your instructor to stop it")
        return Holder(lst, "a process this account is not allowed to see (another user's, perhaps)",
                      f"Find it with: sudo ss -ltnup 'sport = :{port}'; stop it")
    try:
        import psutil

        cmd = command(lst.pid)
        me = os.getpid()
        mine = lst.pid == me or psutil.Process(lst.pid).ppid() == me  # this kernel, or a process it started
        found = _own(lst.pid, port, host, cmd) if mine else _other_kernel(lst.pid, cmd)
    except Exception:  # the process ended meanwhile, or is not ours to read
        return Holder(lst, f"pid {lst.pid}", f"Stop that program (kill {lst.pid} in a terminal)")
    if found is None:
        found = Holder(None, f"{cmd} (pid {lst.pid})", f"Stop that program (kill {lst.pid} in a terminal)")
    return Holder(lst, found.who, found.hint)


def in_use(port: int, host: str = "127.0.0.1", *, instead: str = "choose another port",
           doing: str = "") -> PortInUseError:
    """The PortInUseError for ``port`` on ``host`` (shown as ``host``; '' or '*' means every address):
    who holds it, what frees it, and ``instead`` what else would do. ``doing`` says who wanted it."""
    h = holder(port, "0.0.0.0" if host in ("", "*") else host)
    where = ""
    if h.listener is not None and h.listener.host != (host or "*"):
        every = h.listener.host in EVERY_ADDRESS
        where = f", listening on {'every address' if every else h.listener.host}"
    who = h.who if not where else (h.who[:-1] + where + ")" if h.who.endswith(")") else h.who + where)
    who += f", so {doing}" if doing else ""
    return PortInUseError(port, host or "*", who, f"{h.hint}, or {instead}." if instead else f"{h.hint}.")


_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=2048)  # this process's latest free_ports answers
_HANDED_OUT_LOCK = threading.Lock()


def free_ports(n: int = 1, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that are free now (held together while choosing, so they differ), none of them
    one this process was handed lately: two calls before anything binds (backends, then the proxy in front)
    would otherwise sometimes get the same port twice.

    For experiments and tests that must write a port into a config; servers of a Fleet get
    theirs race-free by binding port 0 themselves.
    """
    socks: list[socket.socket] = []
    try:
        with _HANDED_OUT_LOCK:
            chosen: list[int] = []
            for _ in range(n + 64):  # bounded: the kernel hands out ports across its whole ephemeral range
                if len(chosen) == n:
                    break
                s = socket.socket()
                s.bind((host, 0))
                socks.append(s)  # held until the end, so the kernel does not offer it again meanwhile
                port = s.getsockname()[1]
                if port not in _HANDED_OUT:
                    chosen.append(port)
            spare = [s.getsockname()[1] for s in socks if s.getsockname()[1] not in chosen]
            chosen += spare[:n - len(chosen)]  # never fewer than n: a port handed out before, if it must be
            _HANDED_OUT.extend(chosen)
        return chosen
    finally:
        for s in socks:
            s.close()
