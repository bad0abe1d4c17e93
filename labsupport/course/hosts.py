"""Hosts as network namespaces: several "machines" on one Linux machine, joined by a virtual switch.

    lab = Lab()                                   # the namespace world (its own switch)
    web = lab.host("web1", "10.0.0.11")           # a host: its own network stack, one address
    client = lab.host("client", "10.0.0.2")
    web.popen([sys.executable, "backends/app.py", "8080", "--host", "10.0.0.11"])
    client.run("curl -s http://10.0.0.11:8080/").stdout   # 'Hi!! from server 8080'
    lab.stop()                                    # or lifecycle.stop_all(), or the kernel's end

How it works. One helper process holds the whole world: ``unshare --user --map-root-user --net --pid
--mount --mount-proc --fork`` (without ``--user`` when run as root where user namespaces are refused).
Its pid 1 is a few lines of Python (``_INIT``) that reads this process's pipe: each line asks for one
more host, which it starts as its own child, ``unshare --net sleep infinity`` (the holder: a process
that keeps the host's network namespace alive). pid 1's own network namespace is the switch: a bridge,
``br0``, and one veth pair per host (``h-NAME`` on the bridge, ``eth0`` inside the host, which gets the
address). No link leads to the machine's own namespace: nothing routes, nothing is NATed.

Cleanup needs no cooperation. When the pipe closes (``stop()``, or the owning process ends, even by
SIGKILL, so the kernel closes its end) pid 1 exits, and the kernel kills every process of its pid
namespace: holders, servers, everything ``Host.run``/``Host.popen`` started (they enter that pid
namespace too). With its last process gone each namespace, the switch and every veth vanish.

Commands run in a host through ``nsenter`` (user, network, pid and mount namespaces of its holder), as
the namespace's root: an ordinary user's process there has every capability over the lab's own network
(port 80, ``ip addr add``, raw sockets for VRRP) and none over the machine. The kernel process itself
stays outside (JupyterLab must reach it), so it cannot reach 10.0.0.x directly: it drives what runs
inside by commands run in hosts (a client host running curl or a Python one-liner).

nsenter forks when it enters a pid namespace and does not pass signals on, so ``Host.popen`` returns a
``HostProcess`` whose ``terminate``/``kill``/``send_signal`` reach the command itself.
"""
from __future__ import annotations

import ipaddress
import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from labsupport import lifecycle
from labsupport.errors import LabError, NotFoundError, ToolMissingError, UsageError

SUBNET = "10.0.0.0/24"
BRIDGE = "br0"
_NAME = re.compile(r"[a-z][a-z0-9-]{0,12}\Z")
_TOOLS = ("unshare", "nsenter", "ip", "sleep")
# what runs in a host runs as its root: its PATH has the system folders an ordinary user's PATH may lack (ip)
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# pid 1 of the lab: one holder per line read; exits (and so ends the whole lab) when its input closes.
_INIT = """\
import os, signal, subprocess, sys
def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
signal.signal(signal.SIGCHLD, reap)
print("ready", flush=True)
for line in sys.stdin:
    holder = subprocess.Popen([sys.argv[1], "--net", "--", sys.argv[2], "infinity"], stdin=subprocess.DEVNULL)
    print(holder.pid, flush=True)
"""


class NamespacesUnavailableError(ToolMissingError):
    """This machine lets this account make no network namespaces (or lacks the programs to); the message
    says why and what would allow it. A kind of missing tool, so ``with if_installed():`` carries on past it."""

    carry_on = "Carrying on without hosts: this cell stops here; the cells that run on loopback still run."

    def __init__(self, message: str):
        self.tool, self.install = "network namespaces", ""
        LabError.__init__(self, message)


class NoLab:
    """What ``Lab.if_possible()`` gives where no lab can be made: every use says why, as one error that
    ``with if_installed():`` turns into a message (so a lesson runs on, doing what works without hosts)."""

    running = False
    hosts: dict = {}

    def __init__(self, why: str):
        self.why = why

    def _refuse(self, *args: Any, **kw: Any):
        raise NamespacesUnavailableError(f"no lab network on this machine: {self.why}")

    host = topology = __getitem__ = _refuse

    def stop(self) -> None:
        pass

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<no lab here: {self.why}>"


def _tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)


_probed: tuple[list[str] | None, str] | None = None


def _probe() -> tuple[list[str] | None, str]:
    """(the unshare flags that work here, '') or (None, why not); tried once per process."""
    global _probed
    if _probed is not None:
        return _probed
    if os.environ.get("LAB_NO_NETNS") == "1":  # to see a lesson as a machine without namespaces shows it
        _probed = (None, "LAB_NO_NETNS=1 is set, as on a machine where they are refused")
        return _probed
    missing = [t for t in _TOOLS if _tool(t) is None]
    if sys.platform != "linux":
        _probed = (None, "network namespaces are a Linux feature; this is " + sys.platform)
    elif missing:
        _probed = (None, f"{', '.join(missing)} not found (they come with util-linux and iproute2: "
                         "sudo apt-get install util-linux iproute2)")
    else:
        tries = [["--user", "--map-root-user"]] + ([[]] if os.geteuid() == 0 else [])
        errors = []
        for user in tries:
            for mount in (["--mount", "--mount-proc"], []):
                flags = [*user, "--net", "--pid", *mount, "--fork"]
                try:
                    done = subprocess.run([_tool("unshare"), *flags, "true"], capture_output=True, text=True,
                                          timeout=20)
                except (OSError, subprocess.TimeoutExpired) as e:
                    errors.append(str(e))
                    continue
                if done.returncode == 0:
                    _probed = (flags, "")
                    return _probed
                errors.append(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
        _probed = (None, f"this account may not create namespaces here ({errors[0]}). An ordinary user needs "
                         "unprivileged user namespaces: on Debian/Ubuntu `sudo sysctl kernel.unprivileged_userns_clone=1`"
                         " (Ubuntu 24.04+: `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`), and "
                         "user.max_user_namespaces above 0; inside a container they are usually refused")
    return _probed


def _children(pid: int) -> list[int]:
    """The process ids (as this process sees them) of ``pid``'s children."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _inner_pid(pid: int) -> int | None:
    """The pid of ``pid`` in its innermost pid namespace (the last NSpid field)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _wait_for(what: str, test, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = test()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"the lab did not come up: {what} after {timeout:.0f} s")
        time.sleep(0.02)


class HostProcess(subprocess.Popen):
    """A command running in a host. nsenter stays in between (it forks into the lab's pid namespace), so
    signals go to its child, the command itself; ``wait``/``returncode`` report the command's end."""

    def target(self) -> int | None:
        """The command's process id as this process sees it (None once it has ended)."""
        deadline = time.monotonic() + 5
        while self.poll() is None:
            found = _children(self.pid)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        return None

    def send_signal(self, sig: int) -> None:
        target = self.target()
        if target is not None:
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass


class Host:
    """One machine of the lab: its own network namespace with one address on the switch."""

    def __init__(self, lab: Lab, name: str, address: str, holder: int):
        self.lab, self.name, self.address, self.holder = lab, name, address, holder

    def command(self, cmd: str | Sequence[str], cwd: str | os.PathLike | None = None) -> list[str]:
        """The argument list that runs ``cmd`` (a list, or a string for ``sh -c``) in this host, in folder
        ``cwd`` (default: this process's; entering a mount namespace would otherwise start it in /)."""
        if not self.lab.running:
            raise LabError(f"host {self.name} is gone: its lab was stopped")
        user = ["-U", "--preserve-credentials"] if "--user" in self.lab.flags else []
        mount = ["-m"] if "--mount" in self.lab.flags else []
        folder = os.path.abspath(cwd if cwd is not None else os.getcwd())
        return ([_tool("nsenter"), "-t", str(self.holder), *user, "-n", "-p", *mount, f"--wd={folder}", "--"]
                + (["sh", "-c", cmd] if isinstance(cmd, str) else [str(c) for c in cmd]))

    @staticmethod
    def _environment(kw: dict) -> dict:
        if "env" not in kw:
            path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep)
            kw["env"] = {**os.environ, "PATH": os.pathsep.join(path + [d for d in _SBIN if d not in path])}
        return kw

    def run(self, cmd: str | Sequence[str], timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess:
        """Run ``cmd`` in this host to its end; its output as text (``.stdout``, ``.stderr``, ``.returncode``)."""
        self._environment(kw)
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.command(cmd, kw.pop("cwd", None)), timeout=timeout, **kw)

    def popen(self, cmd: str | Sequence[str], **kw: Any) -> HostProcess:
        """Start ``cmd`` in this host and return at once; it ends when stopped, or with its lab."""
        self._environment(kw)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return HostProcess(self.command(cmd, kw.pop("cwd", None)), **kw)

    def unplug(self) -> None:
        """Pull this host's cable: its switch port goes down (what runs in it keeps running, cut off)."""
        self.lab._switch(["link", "set", f"h-{self.name}", "down"])

    def plug(self) -> None:
        """Put the cable back."""
        self.lab._switch(["link", "set", f"h-{self.name}", "up"])

    def processes(self) -> list[int]:
        """Every process in this host's network namespace (ids as this process sees them), the holder too."""
        try:
            mine = os.readlink(f"/proc/{self.holder}/ns/net")
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/net") == mine:
                    found.append(int(entry))
            except OSError:
                continue
        return found

    def __repr__(self) -> str:
        state = "" if self.lab.running else ", stopped"
        return f"<Host {self.name} {self.address}{state}>"


def end_process(process: subprocess.Popen, terminate: bool = True, timeout: float = 10) -> None:
    """End a process started in a host (or here) and close its pipes: SIGTERM unless it has ended already
    (``terminate=False``: only wait for its end), SIGKILL after ``timeout`` s. A process whose lab has stopped
    has ended with it, so this is safe at any time."""
    if terminate and process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream:
            stream.close()


def require_lab(lab: Any, usage: str) -> None:
    """Refuse what is not a running-or-stopped ``Lab``: a ``NoLab`` says why this machine has no hosts (the
    error ``with if_installed():`` carries on past); anything else is a UsageError showing ``usage``."""
    if isinstance(lab, NoLab):
        lab.host("")
    if not isinstance(lab, Lab):
        raise UsageError(f"{usage} needs the Lab first, not {type(lab).__name__} (lab = Lab.if_possible())")


class Lab:
    """The namespace world: a switch (a bridge in a namespace of its own) and the hosts on it."""

    def __init__(self, subnet: str = SUBNET):
        flags, why = _probe()
        if flags is None:
            raise NamespacesUnavailableError(f"no lab network on this machine: {why}")
        self.flags = flags
        lifecycle.rerun_replaces()  # this cell ran before: the lab it made then stops (one line says so)
        self.subnet = ipaddress.ip_network(subnet)
        self.hosts: dict[str, Host] = {}
        self._lock = threading.Lock()
        self._proc = subprocess.Popen([_tool("unshare"), *flags, "--kill-child", sys.executable, "-c", _INIT,
                                       _tool("unshare"), _tool("sleep")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        lifecycle.register("child", self, label="the lab network")
        try:
            if self._proc.stdout.readline().strip() != "ready":
                raise LabError(f"the lab's first process ended at once (exit {self._proc.wait(10)})")
            self.init = _wait_for("its first process", lambda: (_children(self._proc.pid) or [None])[0])
            self._switch(["link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0"])
            self._switch(["link", "set", BRIDGE, "up"])
        except BaseException:
            self.stop()
            raise

    @classmethod
    def if_possible(cls, subnet: str = SUBNET) -> Lab | NoLab:
        """A new lab where this machine allows one; elsewhere a ``NoLab`` that says why at its first use."""
        flags, why = _probe()
        if flags is None:
            print(f"No hosts on this machine: {why}.\nThe cells that need them say so and carry on; the ones "
                  "that run on loopback still run.")
            return NoLab(why)
        return cls(subnet)

    @staticmethod
    def available() -> bool:
        """Whether this account can make a lab here (``Lab.why_not()`` says why not)."""
        return _probe()[0] is not None

    @staticmethod
    def why_not() -> str:
        """'' when ``available()``, else why no lab can be made here and what would allow it."""
        return _probe()[1]

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def _switch(self, args: list[str]) -> str:
        user = ["-U", "--preserve-credentials"] if "--user" in self.flags else []
        done = subprocess.run([_tool("nsenter"), "-t", str(self.init), *user, "-n", "--", _tool("ip"), *args],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise LabError(f"ip {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def _next_address(self) -> str:
        taken = {h.address for h in self.hosts.values()}
        for candidate in itertools.islice(self.subnet.hosts(), 9, None):  # lazily: a /16 has 65534
            if str(candidate) not in taken:
                return str(candidate)
        raise UsageError(f"no free address left in {self.subnet}")

    def host(self, name: str, address: str | None = None) -> Host:
        """A new host called ``name`` with ``address`` (default: the next free one from .10 up) on the switch."""
        if not _NAME.match(name):
            raise UsageError(f"host name {name!r}: use 1-13 lower-case letters, digits or '-', starting with a letter")
        with self._lock:
            if not self.running:
                raise LabError("this lab was stopped; make a new Lab()")
            if name in self.hosts:
                raise UsageError(f"there is already a host {name} ({self.hosts[name].address})")
            address = address or self._next_address()
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                raise UsageError(f"{address!r} is not an IPv4 address (e.g. 10.0.0.11)") from None
            if ip not in self.subnet or ip in (self.subnet.network_address, self.subnet.broadcast_address):
                raise UsageError(f"address {address} is not a host address of the lab's network {self.subnet}")
            if any(h.address == str(ip) for h in self.hosts.values()):
                raise UsageError(f"address {ip} is taken by host "
                                 f"{next(h.name for h in self.hosts.values() if h.address == str(ip))}")
            self._proc.stdin.write(name + "\n")
            inner = int(self._proc.stdout.readline())
            # the holder counts once it runs sleep: before, unshare may not have left the switch's namespace yet
            holder = _wait_for(f"host {name}'s process", lambda: next(
                (p for p in _children(self.init) if _inner_pid(p) == inner and _command(p) == "sleep"), None))
            link = f"h-{name}"
            self._switch(["link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", str(holder)])
            self._switch(["link", "set", link, "master", BRIDGE, "up"])
            host = Host(self, name, str(ip), holder)
            for step in (f"addr add {ip}/{self.subnet.prefixlen} dev eth0", "link set eth0 up", "link set lo up"):
                done = host.run([_tool("ip"), *step.split()], timeout=30)
                if done.returncode != 0:
                    raise LabError(f"host {name}: ip {step}: {done.stderr.strip()}")
            self.hosts[name] = host
            return host

    def __getitem__(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise NotFoundError(f"no host {name!r} in this lab (hosts: {', '.join(self.hosts) or 'none'})") from None

    def topology(self) -> dict:
        """What the switch holds now, read back from the kernel: hosts with address and link, the bridge."""
        links = []
        if self.running:
            for line in self._switch(["-o", "link", "show", "master", BRIDGE]).splitlines():
                match = re.match(r"\d+: ([^@:]+)[@:].*state (\S+)", line)
                if match:
                    links.append({"switch_port": match.group(1), "state": match.group(2)})
        ports = {link["switch_port"]: link for link in links}
        hosts = [{"name": h.name, "address": h.address, "interface": "eth0", "switch_port": f"h-{h.name}",
                  "state": ports.get(f"h-{h.name}", {}).get("state", "gone")} for h in self.hosts.values()]
        return {"subnet": str(self.subnet), "switch": BRIDGE, "hosts": hosts, "links": links,
                "user_namespace": "--user" in self.flags}

    def stop(self) -> None:
        """End the lab: every host, everything running in them, the switch. A second call does nothing."""
        lifecycle.unregister(self)
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.stdin.close()  # pid 1 reads its end, exits, and the kernel kills the rest
            except OSError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()  # unshare --kill-child takes pid 1 (and so the whole pid namespace) with it
                proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Lab {self.subnet} {state}: {', '.join(f'{h.name} {h.address}' for h in self.hosts.values()) or 'no hosts'}>"

