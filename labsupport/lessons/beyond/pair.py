"""Two balancers sharing one address: HAProxy (or the course engine) in hosts lb1 and lb2, keepalived (VRRP)
moving the virtual address 10.0.0.100 to whichever of them is alive.

    pair = BalancerPair(lab, {"web1": "10.0.0.11:80", "web2": "10.0.0.12:80"})
    pair.holder()                         # 'lb1': the address is on lb1's eth0
    print(pair.config("lb1"))             # the keepalived.conf lb1 runs
    pair.stop_active("balancer")          # HAProxy on lb1 dies; its check says so; lb2 takes the address
    pair.wait_for_holder("lb2", 10)
    pair.restore()                        # HAProxy on lb1 again; with preempt lb1 takes the address back

Why: one balancer is one machine that can fail, and then every server behind it is out of reach. Two
balancers need one address clients can keep using: VRRP (RFC 5798) lets routers, here keepalived, agree
which of them answers for a *virtual* address. The holder (MASTER) sends an advertisement every
``advert_int`` seconds to 224.0.0.18; the others (BACKUP) take the address over when they hear none for
``3 * advert_int + (256 - priority) / 256 * advert_int`` seconds (the "master down interval"), then send
gratuitous ARP so the network learns where the address went.

What the settings do to an outage (lesson 10 measures each, failover.py):

``advert_int``  the heartbeat. A holder that is cut off (cable, crash of the machine) is noticed only after
                about 3.6 advertisements: 3.6 s at 1, 1.8 s at 0.5 (fractions need VRRP version 3, which
                the config then names). Shorter costs more packets and risks a false failover on a busy host.
``priority``    who wins: the higher one holds the address; the lower one's skew makes it wait a little
                longer, so two backups never both take over.
``preempt``     (the default) a higher-priority router that comes back takes the address back: a second,
                short interruption. ``nopreempt`` (``preempt=False``) leaves the address where it is.
``track``       keepalived watches the network, not HAProxy. If HAProxy dies and the machine stays up,
                keepalived goes on advertising and the address stays on a machine that refuses every
                request: the outage lasts until someone restores HAProxy. With tracking, a check of the
                balancer process (``kill -0 PID`` every 0.2 s) writes 0 or 1 to a file keepalived
                tracks (``track_file``, weight 0: any number but 0 means FAULT). In FAULT the instance
                releases the address and tells the others (priority 0), so the backup takes over at
                once, without waiting for the master down interval.

Why ``track_file`` and not the usual ``vrrp_script``: keepalived runs every script after ``setgroups()``,
which a user namespace made by an ordinary user forbids (unshare writes "deny" to /proc/PID/setgroups), so
in the lab a ``vrrp_script`` never runs and always "succeeds". The check itself is what a ``vrrp_script``
would run; on a real machine, as root, write it as ``vrrp_script`` (or ``track_process``) instead.

How it runs: the balancers are ``balancerhost.HostBalancer`` (the course's HAProxy runner, started in the
host). Both bind the virtual address (``bind 10.0.0.100:80``) from the start, as on real machines: each
balancer host sets ``net.ipv4.ip_nonlocal_bind=1`` (its network namespace's own setting), which lets a
program listen on an address the host does not have yet, so the backup serves the moment keepalived gives it
the address. Each host gets a folder in the user's run folder for keepalived.conf, its log and the check's
file; keepalived runs as in tests/course/test_hosts.py (``--dont-fork --vrrp``, as the host's root inside the
lab's user namespace). Everything started lives in the lab's namespaces, so it dies with the lab; the pair
registers with ``labsupport.lifecycle`` too.
"""
from __future__ import annotations

import ipaddress
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from labsupport import lifecycle
from labsupport.course.environment import find_tool
from labsupport.course.haproxy import find_haproxy
from labsupport.course.hosts import Host, HostProcess, Lab, require_lab
from labsupport.errors import LabError, ToolMissingError, UsageError
from labsupport.rundir import run_dir

from .balancerhost import HostBalancer

BALANCERS = {"lb1": "10.0.0.21", "lb2": "10.0.0.22"}
HOWS = ("unplug", "balancer", "keepalived")
ROUTER_ID = 51

HAPROXY_CFG = """\
# the same file on lb1 and lb2: both listen on the virtual address, even while it is on the other one
# (net.ipv4.ip_nonlocal_bind=1 in each balancer host lets a program bind an address the host lacks)
global
    maxconn 1000

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 2
    option redispatch

frontend www
    bind {vip}:80
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /
{servers}
"""

KEEPALIVED_CONF = """\
# keepalived.conf on {name}: VRRP instance {instance} shares {vip} with the other balancer
global_defs {{
    router_id {name}
{version}}}
{script}
vrrp_instance {instance} {{
    state {state}                 # where it starts; the priorities decide who holds the address
    interface eth0
    virtual_router_id {router_id}
    priority {priority}
    advert_int {advert_int}       # seconds between advertisements: the heartbeat
{preempt}    virtual_ipaddress {{
        {vip}/24 dev eth0
    }}
{track}}}
"""

CHECK = """\
track_file balancer_down {{       # written by the balancer's check on this host: 0 alive, 1 dead
    file "{path}"
    weight 0                    # weight 0: any number but 0 in the file puts the instance in FAULT
}}
"""

TRACK = """    track_file {
        balancer_down             # FAULT: the address goes to the other balancer at once
    }
"""

# the check beside keepalived: every CHECK_INTERVAL s, is the balancer process (its pid in the lab) alive?
CHECKER = 'echo 0 > {path}; while kill -0 {pid} 2>/dev/null; do sleep {interval}; done; echo 1 > {path}'
CHECK_INTERVAL = 0.2


def keepalived_binary() -> str | None:
    """Path of keepalived (PATH, /usr/sbin, /usr/local/sbin), or None."""
    return find_tool("keepalived")


def lab_pid(pid: int) -> int | None:
    """``pid`` (as this process sees it) as the lab sees it: the last field of NSpid, the innermost pid
    namespace; None once it has ended. What ``kill`` in a host must be given."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[-1]) for line in f if line.startswith("NSpid:")), None)
    except OSError:
        return None


def haproxy_config(servers: dict[str, str], vip: str = "10.0.0.100") -> str:
    """The haproxy.cfg both balancers run: a frontend on ``vip``:80, roundrobin over ``servers``, each
    health-checked every second."""
    lines = [f"    server {name} {target} check inter 1s fall 2 rise 1" for name, target in servers.items()]
    return HAPROXY_CFG.format(servers="\n".join(lines), vip=vip)


def _number(value: float) -> str:
    return f"{value:g}"


class BalancerPair:
    """lb1 (10.0.0.21) and lb2 (10.0.0.22) in ``lab``, each a balancer for ``servers`` plus keepalived, sharing
    ``vip``. ``balancer``: 'haproxy' (the engine when haproxy is missing: ``kind`` and ``why`` say so) or
    'engine'. ``priorities``: (lb1's, lb2's). See the module's text for ``advert_int``/``preempt``/``track``."""

    def __init__(self, lab: Lab, servers: dict[str, str], vip: str = "10.0.0.100", advert_int: float = 1.0,
                 priorities: tuple[int, int] = (150, 100), preempt: bool = True, track: bool = True,
                 balancer: str = "haproxy", router_id: int = ROUTER_ID):
        self._check_arguments(lab, servers, vip, advert_int, priorities, balancer, router_id)
        keepalived = keepalived_binary()
        if keepalived is None:
            raise ToolMissingError("keepalived", "sudo apt-get install keepalived",
                                   "without it the lesson shows the same failover with two addresses and DNS "
                                   "(labsupport.lessons.beyond.dnsfailover)")
        self.keepalived = keepalived
        self.lab, self.servers, self.vip = lab, dict(servers), vip
        self.advert_int, self.priorities = float(advert_int), tuple(priorities)
        self.preempt, self.track, self.router_id = bool(preempt), bool(track), router_id
        self.haproxy = find_haproxy() if balancer == "haproxy" else None
        self.kind = "haproxy" if self.haproxy else "engine"
        self.why = ("real HAProxy" if self.kind == "haproxy" else
                    "the course engine (python -m labsupport.balancer), as asked" if balancer == "engine" else
                    "the course engine (python -m labsupport.balancer): haproxy is not installed")
        self.haproxy_cfg = haproxy_config(self.servers, vip)
        self.folder = Path(tempfile.mkdtemp(prefix="pair-", dir=run_dir()))
        self.hosts: dict[str, Host] = {}
        self._balancers: dict[str, HostBalancer | None] = {}
        self._keepaliveds: dict[str, HostProcess | None] = {}
        self._checkers: dict[str, HostProcess | None] = {}
        self._configs: dict[str, str] = {}
        self._unplugged: set[str] = set()
        self.stopped: dict[str, str] = {}  # host -> how it was made to fail (until restore)
        self._lock = threading.Lock()
        lifecycle.rerun_replaces()  # this cell ran before: the pair it made then stops (one line says so)
        earlier = [p for p in lifecycle.running("balancer") if isinstance(p, BalancerPair) and p.lab is lab and p.running]
        if earlier:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise UsageError(f"this lab already runs a balancer pair ({earlier[0].vip} on lb1 and lb2): "
                             "stop it first (pair.stop()), or keep using it")
        try:
            for name, address in BALANCERS.items():
                self.hosts[name] = host = lab.hosts.get(name) or lab.host(name, address)
                done = host.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind"], timeout=30)
                if done.returncode != 0:
                    raise LabError(f"host {name}: could not allow binding the virtual address "
                                   f"(net.ipv4.ip_nonlocal_bind): {done.stderr.strip()}")
            lifecycle.register("balancer", self, label=f"the balancer pair on {vip}")
            for name in self.hosts:
                self._start_balancer(name)
            for name in self.hosts:
                self._start_keepalived(name)
            self.settle()
        except BaseException:
            self.stop()
            raise

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_arguments(lab, servers, vip, advert_int, priorities, balancer, router_id) -> None:
        require_lab(lab, "BalancerPair(lab, servers)")
        if not isinstance(servers, dict) or not servers:
            raise UsageError("servers: a dict of name -> 'address:port', e.g. {'web1': '10.0.0.11:80'}")
        for name, target in servers.items():
            host, _, port = str(target).rpartition(":")
            try:
                ipaddress.ip_address(host)
                ok = re.fullmatch(r"[A-Za-z][\w.-]*", str(name)) and port.isdigit() and 0 < int(port) < 65536
            except ValueError:
                ok = False
            if not ok:
                raise UsageError(f"server {name!r}: {target!r} is not 'address:port' (e.g. '10.0.0.11:80')")
        try:
            address = ipaddress.ip_address(vip)
        except ValueError:
            raise UsageError(f"vip {vip!r} is not an IPv4 address (e.g. '10.0.0.100')") from None
        if address not in lab.subnet or vip in BALANCERS.values() or any(
                h.address == vip for h in lab.hosts.values()):
            raise UsageError(f"vip {vip}: use a free address of the lab's network {lab.subnet}, "
                             "not a host's (e.g. '10.0.0.100')")
        if isinstance(advert_int, bool) or not isinstance(advert_int, (int, float)) or not 0.01 <= advert_int <= 255:
            raise UsageError(f"advert_int={advert_int!r}: seconds between advertisements, 0.01 to 255 (e.g. 1)")
        if (not isinstance(priorities, (tuple, list)) or len(priorities) != 2
                or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 254 for p in priorities)):
            raise UsageError(f"priorities={priorities!r}: two whole numbers 1..254, lb1's then lb2's (e.g. (150, 100))")
        if priorities[0] == priorities[1]:
            raise UsageError(f"priorities={tuple(priorities)!r}: give lb1 and lb2 different priorities "
                             "(equal ones are decided by the higher address, which is hard to read)")
        if balancer not in ("haproxy", "engine"):
            raise UsageError(f"balancer={balancer!r}: 'haproxy' (real HAProxy) or 'engine' (the course's)")
        if not isinstance(router_id, int) or not 1 <= router_id <= 255:
            raise UsageError(f"router_id={router_id!r}: the VRRP virtual_router_id, 1..255")

    # ------------------------------------------------------------------ processes
    def _dir(self, name: str) -> Path:
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        return folder

    def _start_balancer(self, name: str) -> None:
        """The balancer of host ``name``: ``balancerhost.HostBalancer`` (checks the config, waits until it runs)."""
        old = self._balancers.get(name)
        if old is not None:
            old.stop()  # after a crash: its copy, socket and log go; a new one starts from the same text
        balancer = HostBalancer(self.hosts[name], self.haproxy_cfg, f"{name}-haproxy.cfg",
                                engine=True if self.kind == "engine" else None)
        self._balancers[name] = balancer.start(timeout=30)
        if self.track:
            self._start_checker(name)

    def _start_checker(self, name: str) -> None:
        """The balancer's check: writes 0 to ``balancer-down`` now and 1 once the balancer process is gone."""
        self._end(self._checkers.get(name))
        path = self._dir(name) / "balancer-down"
        script = CHECKER.format(path=path, pid=self.balancer_pid(name), interval=_number(CHECK_INTERVAL))
        self._checkers[name] = self.hosts[name].popen(["sh", "-c", script], stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (path.exists() and path.read_text().strip() == "0"):
            if time.monotonic() > deadline:
                raise LabError(f"the balancer's check on {name} did not start")
            time.sleep(0.02)

    def balancer_pid(self, name: str) -> int | None:
        """The balancer process's id inside the lab (what ``kill -0`` in keepalived.conf names), or None."""
        balancer = self._balancers.get(name)
        outer = balancer.proc.target() if balancer is not None and balancer.running else None
        return lab_pid(outer) if outer else None

    def _keepalived_conf(self, name: str) -> str:
        first = name == "lb1"
        priority = self.priorities[0 if first else 1]
        fractional = self.advert_int != int(self.advert_int)
        return KEEPALIVED_CONF.format(
            name=name, instance="VI_1", vip=self.vip, router_id=self.router_id, priority=priority,
            advert_int=_number(self.advert_int),
            version="    vrrp_version 3            # fractional advert_int needs VRRP version 3\n" if fractional else "",
            state="MASTER" if first and self.preempt else "BACKUP",
            preempt="" if self.preempt else "    nopreempt                  # a router that comes back leaves the address where it is\n",
            script=CHECK.format(path=self._dir(name) / "balancer-down") if self.track else "",
            track=TRACK if self.track else "")

    def _start_keepalived(self, name: str) -> None:
        folder = self._dir(name)
        text = self._keepalived_conf(name)
        self._configs[name] = text
        (folder / "keepalived.conf").write_text(text)
        log = (folder / "keepalived.log").open("ab")
        try:
            self._keepaliveds[name] = self.hosts[name].popen(
                [self.keepalived, "--dont-fork", "--log-console", "--no-syslog", "--vrrp", "--use-file",
                 str(folder / "keepalived.conf"), "--pid", str(folder / "keepalived.pid"),
                 "--vrrp_pid", str(folder / "vrrp.pid")], stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    @staticmethod
    def _end(proc: HostProcess | None, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout)

    # ------------------------------------------------------------------ who holds the address
    def holders(self) -> list[str]:
        """Every balancer whose eth0 carries the virtual address now (two, briefly, or while one is cut off)."""
        found = []
        for name, host in self.hosts.items():
            if not self.lab.running:
                return []
            done = host.run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"], timeout=30)
            if f" {self.vip}/" in done.stdout:
                found.append(name)
        return found

    def holder(self) -> str | None:
        """'lb1' or 'lb2': the balancer that holds the virtual address and is reachable (an unplugged one may
        still carry it, cut off); None while nobody does."""
        found = self.holders()
        reachable = [n for n in found if n not in self._unplugged]
        return (reachable or [None])[0]

    def wait_for_holder(self, name: str | None, timeout: float = 20.0) -> float:
        """Wait until ``holder()`` is ``name``; returns the seconds it took (LabError after ``timeout``)."""
        if name not in (*self.hosts, None):
            raise UsageError(f"wait_for_holder({name!r}): expected 'lb1', 'lb2' or None")
        start = time.monotonic()
        while (now := self.holder()) != name:
            if time.monotonic() - start > timeout:
                raise LabError(f"{name} did not hold {self.vip} within {timeout:g} s (holder: {now}); "
                               f"keepalived on lb1 said: {self.log('lb1')[-300:]}")
            time.sleep(0.05)
        return round(time.monotonic() - start, 3)

    def preferred(self) -> str | None:
        """Who should hold the address once things are quiet: with ``preempt`` the higher priority of the
        balancers that are not stopped; without it whoever holds it now (None: anyone)."""
        if not self.preempt:
            return None
        alive = [name for name in self.hosts if name not in self.stopped]
        return max(alive, key=lambda n: self.priorities[list(self.hosts).index(n)]) if alive else None

    def settle(self, timeout: float = 30.0) -> float:
        """Wait until the address has a holder, the one ``preferred()`` names when there is one: after a start
        or a restore VRRP needs a moment (an election, a preemption). Returns the seconds it took."""
        start = time.monotonic()
        while (now := self.holder()) is None or (self.preferred() not in (None, now)):
            if time.monotonic() - start > timeout:
                raise LabError(f"{self.vip} did not settle within {timeout:g} s (holder: {now or 'nobody'}, "
                               f"expected {self.preferred() or 'anyone'}); keepalived on lb1 said: "
                               f"{self.log('lb1')[-300:]}")
            time.sleep(0.05)
        return round(time.monotonic() - start, 3)

    # ------------------------------------------------------------------ what students read
    def config(self, host: str) -> str:
        """The keepalived.conf ``host`` ('lb1' or 'lb2') runs now."""
        if host not in self.hosts:
            raise UsageError(f"config({host!r}): the balancers are {', '.join(BALANCERS)}")
        return self._configs.get(host, "")

    def log(self, host: str, what: str = "keepalived") -> str:
        """What keepalived (or ``what='balancer'``: HAProxy or the engine) printed on ``host``."""
        if what == "balancer":
            balancer = self._balancers.get(host)
            return balancer.log_tail(100) if balancer is not None else ""
        try:
            return (self.folder / host / f"{what}.log").read_text(errors="replace")
        except OSError:
            return ""

    def state(self) -> dict[str, dict]:
        """Per balancer: address, priority, balancer and keepalived alive, plugged, holds the address."""
        held = self.holders() if self.lab.running else []
        return {name: {"address": host.address, "priority": self.priorities[i],
                       "balancer": bool(self._balancers.get(name) and self._balancers[name].running),
                       "keepalived": self._alive(self._keepaliveds.get(name)),
                       "plugged": name not in self._unplugged, "holds_vip": name in held,
                       "stopped": self.stopped.get(name, "")}
                for i, (name, host) in enumerate(self.hosts.items())}

    @staticmethod
    def _alive(proc: HostProcess | None) -> bool:
        return proc is not None and proc.poll() is None

    # ------------------------------------------------------------------ failures
    def stop_active(self, how: str = "unplug", host: str | None = None) -> str:
        """Make the balancer holding the address (or ``host``, 'lb1' or 'lb2', holder or not) fail: 'unplug' its
        cable, kill its 'balancer' (HAProxy or the engine, SIGKILL: a crash), or stop its 'keepalived'
        (SIGTERM: it releases the address and says so). Returns what it did, in words."""
        if how not in HOWS:
            raise UsageError(f"how={how!r}: one of {', '.join(HOWS)}")
        if host is not None and host not in self.hosts:
            raise UsageError(f"host={host!r}: the balancers are {', '.join(BALANCERS)}")
        with self._lock:
            name = host or self.holder()
            if name is None:
                raise LabError(f"nobody holds {self.vip} now: nothing to stop (wait_for_holder first)")
            if name in self.stopped:
                raise UsageError(f"{name} is already stopped ({self.stopped[name]}): restore() first")
            held = name in self.holders()
            if how == "unplug":
                self.hosts[name].unplug()
                self._unplugged.add(name)
                did = f"unplugged {name}'s cable" + (f": it still holds {self.vip}, cut off" if held else "")
            elif how == "balancer":
                self._end(self._balancers[name].proc, signal.SIGKILL)
                did = f"killed {self.kind} on {name} (SIGKILL); keepalived there " + (
                    "checks it and will give the address up" if self.track else "does not check it")
            else:
                self._end(self._keepaliveds[name], signal.SIGTERM)
                did = f"stopped keepalived on {name} (SIGTERM)" + (f": it released {self.vip}" if held else "")
            self.stopped[name] = how
            return did

    def restore(self, wait: bool = True) -> list[str]:
        """Undo every ``stop_active``: plug cables back, start what was stopped, and (``wait``) until the address
        is where the settings put it (``settle``). Returns what it did."""
        done = []
        with self._lock:
            for name in list(self.stopped):
                how = self.stopped.pop(name)
                if how == "unplug":
                    self.hosts[name].plug()
                    self._unplugged.discard(name)
                    done.append(f"plugged {name} back in")
                elif how == "balancer":
                    self._start_balancer(name)
                    done.append(f"started {self.kind} on {name} again")
                else:
                    self._start_keepalived(name)
                    done.append(f"started keepalived on {name} again")
        if done and wait:
            self.settle()
        return done

    def stop(self) -> None:
        """Stop both balancers and both keepalived; a second call does nothing. The hosts stay (the lab's)."""
        lifecycle.unregister(self)
        if self.lab.running:
            for proc in [*self._keepaliveds.values(), *self._checkers.values()]:
                self._end(proc)
        for balancer in self._balancers.values():
            if balancer is not None:
                balancer.stop()
        self._keepaliveds, self._balancers, self._checkers = {}, {}, {}
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.lab.running and any(self._alive(p) for p in self._keepaliveds.values())

    def __repr__(self) -> str:
        if not self.running:
            return f"<BalancerPair {self.vip} stopped>"
        return (f"<BalancerPair {self.vip} on {self.holder() or 'nobody'}: {self.kind} on lb1 and lb2, "
                f"advert_int {_number(self.advert_int)}, priorities {self.priorities[0]}/{self.priorities[1]}"
                f"{'' if self.preempt else ', nopreempt'}{', tracking the balancer' if self.track else ''}>")


__all__ = ["BalancerPair", "haproxy_config", "keepalived_binary", "HOWS", "BALANCERS"]
