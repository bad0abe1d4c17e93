"""The lab's DNS server as a process of its own, so it can run inside a lab host on ADDRESS:53.

    python -m labsupport.course.dnsprocess --listen 10.0.0.53:53 --ttl 2 --record www.lab=10.0.1.10,10.0.2.10 \\
        --region europe=10.0.1.0/24 --site 10.0.1.10=europe --check-port 80 --inter 0.5 --fall 2 --rise 2
    python -m labsupport.course.dnsprocess --config dns.json        # the same, as one JSON object

Why a process: ``DNSServer`` (dnsserver.py) runs in a thread of the process that made it and binds where that
process lives; the notebook's kernel lives outside the lab's namespaces (hosts.py), so the regions of lesson 10
need the server started *in* a host, where the clients' queries arrive from their own addresses (GeoDNS by
source address) and the health checks reach the balancers.

It prints one JSON line per event on stdout: first ``{"ready": "10.0.0.53:53", ...}``, then every query
(``{"event": "query", "time": ..., "client": "10.0.1.100", "answer": "10.0.1.10", ...}``) and every health
change (``{"event": "health", "address": "10.0.1.10", "state": "DOWN", ...}``). It reads JSON lines on stdin:
``{"ttl": 30}`` changes every name's TTL; the end of stdin ends the server. ``DNSProcess`` is the Python side:
it starts the process (in a host, or on this machine), reads those lines in a thread and shows them as Tables.

The JSON config holds the keyword arguments of ``DNSServer``: ``zone``, ``ttl``, ``order``, ``regions``,
``sites``, ``views``, ``pick``, ``health`` ({"port", "inter", "fall", "rise", "timeout", "addr"}), ``origin``;
plus ``listen``. Bad arguments end it with one line on stderr saying what is wrong (exit status 2).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from .. import lifecycle
from ..errors import LabError, UsageError
from .display.table import Table

_KEYS = ("zone", "ttl", "order", "regions", "sites", "views", "pick", "health", "origin", "listen")


def _pairs(items: list[str], what: str, example: str) -> dict[str, str]:
    found = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"--{what} {item!r}: expected {example}")
        found[key] = value
    return found


def config_from_args(argv: list[str]) -> dict[str, Any]:
    """The server's settings from a command line (raises UsageError naming what is wrong)."""
    p = argparse.ArgumentParser(prog="python -m labsupport.course.dnsprocess",
                                description="The course's DNS server as a process (JSON lines on stdout).")
    p.add_argument("--config", help="a JSON file with the settings (keys: " + ", ".join(_KEYS) + ")")
    p.add_argument("--config-json", help="the same settings as one JSON object on the command line")
    p.add_argument("--listen", help="ADDRESS:PORT to answer on (default 127.0.0.1:0, a free port)")
    p.add_argument("--ttl", type=int, help="TTL of every answer, in seconds")
    p.add_argument("--order", help="cyclic, random or fixed")
    p.add_argument("--pick", help="all (every healthy address) or first (only the first)")
    p.add_argument("--record", action="append", help="NAME=ADDRESS[,ADDRESS...], e.g. www.lab=10.0.1.10")
    p.add_argument("--region", action="append", help="REGION=SUBNET[,SUBNET...], e.g. europe=10.0.1.0/24")
    p.add_argument("--site", action="append", help="ADDRESS=REGION: the region this server stands in")
    p.add_argument("--check-port", type=int, help="health-check every address by a TCP connect to this port")
    p.add_argument("--inter", type=float, help="seconds between checks (default 2)")
    p.add_argument("--fall", type=int, help="failed checks to leave an address out (default 3)")
    p.add_argument("--rise", type=int, help="passed checks to bring it back (default 2)")

    def fail(message: str) -> None:
        raise UsageError(message)

    p.error = fail  # type: ignore[method-assign]
    a = p.parse_args(argv)
    config: dict[str, Any] = {}
    if a.config:
        try:
            config = json.loads(Path(a.config).read_text())
        except OSError as e:
            raise UsageError(f"--config {a.config}: {e.strerror}") from None
        except ValueError as e:
            raise UsageError(f"--config {a.config}: not JSON ({e})") from None
    if a.config_json:
        try:
            config = json.loads(a.config_json)
        except ValueError as e:
            raise UsageError(f"--config-json: not JSON ({e})") from None
    if not isinstance(config, dict):
        raise UsageError("the config must be one JSON object, e.g. {\"zone\": {\"www.lab.\": [\"10.0.1.10\"]}}")
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise UsageError(f"unknown config key {unknown[0]!r} (expected some of: {', '.join(_KEYS)})")
    for key in ("listen", "ttl", "order", "pick"):
        if getattr(a, key) is not None:
            config[key] = getattr(a, key)
    if a.record:
        config["zone"] = {k: v.split(",") for k, v in _pairs(a.record, "record", "NAME=ADDRESS[,ADDRESS]").items()}
    if a.region:
        config["regions"] = {k: v.split(",") for k, v in _pairs(a.region, "region", "REGION=SUBNET").items()}
    if a.site:
        config["sites"] = _pairs(a.site, "site", "ADDRESS=REGION")
    if a.check_port is not None:
        config["health"] = {"port": a.check_port, **{k: getattr(a, k) for k in ("inter", "fall", "rise")
                                                     if getattr(a, k) is not None}}
    elif any(getattr(a, k) is not None for k in ("inter", "fall", "rise")):
        raise UsageError("--inter, --fall and --rise set the health checks: give --check-port too")
    return config


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"listen {text!r}: expected ADDRESS:PORT, e.g. 10.0.0.53:53")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    from .dnsserver import DNSServer  # here, so `--help` and bad arguments answer fast

    lock = threading.Lock()

    def emit(record: dict) -> None:
        with lock:
            try:
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):
                pass

    try:
        config = config_from_args(sys.argv[1:] if argv is None else argv)
        host, port = _listen(config.pop("listen", "127.0.0.1:0"))
        if "zone" in config and not isinstance(config["zone"], dict):
            raise UsageError("zone: expected {NAME: [ADDRESS, ...]}")
        if isinstance(config.get("health"), dict):
            config["health"] = {**config["health"], "on_change": emit}
        server = DNSServer(host=host, port=port, on_log=emit, **config)
        server.start()
    except (LabError, TypeError, ValueError) as e:
        sys.stderr.write(f"dnsprocess: error: {e}\n")
        return 2
    emit({"ready": f"{server.host}:{server.port}", "time": time.time(), "ttl": server.default_ttl,
          "health": None if server.health is None else {"port": server.health.port, "inter": server.health.inter,
                                                        "fall": server.health.fall, "rise": server.health.rise}})
    try:
        for line in sys.stdin:  # commands; the end of stdin ends the server
            command = None
            try:
                command = json.loads(line)
                if "ttl" in command:
                    server.set_ttl(command["ttl"])
                emit({"event": "command", "time": time.time(), "ok": True, **command})
            except (ValueError, TypeError, LabError) as e:
                asked = command.get("id") if isinstance(command, dict) else None
                emit({"event": "command", "time": time.time(), "ok": False, "error": str(e), "id": asked})
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


class DNSProcess:
    """``DNSServer`` running as a process in ``host`` (None: on this machine), its log read as it comes.

    >>> dns = DNSProcess(lab["dns"], listen="10.0.0.53:53", zone={"www.lab.": ["10.0.1.10"]}, ttl=2,
    ...                  health={"port": 80, "inter": 0.5, "fall": 2, "rise": 2})
    >>> dns.log(); dns.health_log(); dns.set_ttl(30); dns.stop()
    """

    def __init__(self, host=None, *, listen: str = "127.0.0.1:0", cwd: str | None = None, **config: Any):
        unknown = sorted(set(config) - set(_KEYS))
        if unknown:
            raise UsageError(f"DNSProcess: unknown setting {unknown[0]!r} (expected some of: {', '.join(_KEYS)})")
        self.host, self.config = host, {**config, "listen": listen}
        self.events: deque = deque(maxlen=50_000)
        self._changed = threading.Condition()
        self._commands = 0
        command = [sys.executable, "-m", "labsupport.course.dnsprocess", "--config-json", json.dumps(self.config)]
        root = cwd or str(Path(__file__).resolve().parents[2])  # where `-m labsupport...` is found
        kw = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                  cwd=root)
        self._proc = host.popen(command, **kw) if host is not None else subprocess.Popen(command, **kw)
        first = self._proc.stdout.readline()
        if not first.startswith('{"ready"'):
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            message = (first + self._proc.stderr.read()).strip().removeprefix("dnsprocess: error: ")
            raise LabError(f"the DNS server in {self.where} did not start: {message}")
        ready = json.loads(first)
        self.address, self.ttl = ready["ready"], ready["ttl"]
        self.health = ready["health"]
        lifecycle.register("dns", self, label=f"the DNS server process on {self.address}")
        self._reader = threading.Thread(target=self._read, name=f"dns log {self.address}", daemon=True)
        self._reader.start()

    @property
    def where(self) -> str:
        return f"host {self.host.name}" if self.host is not None else "this machine"

    def _read(self) -> None:
        try:
            for line in self._proc.stdout:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                with self._changed:
                    self.events.append(record)
                    self._changed.notify_all()
        except (OSError, ValueError):
            pass

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def queries(self, since: float = 0.0) -> list[dict]:
        return [e for e in list(self.events) if e.get("event") == "query" and e["time"] >= since]

    def health_events(self, since: float = 0.0) -> list[dict]:
        return [e for e in list(self.events) if e.get("event") == "health" and e["time"] >= since]

    def wait_for(self, test, timeout: float = 10.0, what: str = "an event") -> dict:
        """The first event (oldest first) for which ``test(event)`` holds, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in list(self.events):
                    if test(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    raise LabError(f"the DNS server in {self.where}: no {what} within {timeout:g} s")
                self._changed.wait(min(left, 0.2))

    def set_ttl(self, ttl: int, timeout: float = 5.0) -> None:
        """Every name's TTL from now on (clients keep the answers they cached until theirs runs out)."""
        self._commands += 1
        ask = self._commands
        self._proc.stdin.write(json.dumps({"ttl": ttl, "id": ask}) + "\n")
        self._proc.stdin.flush()
        done = self.wait_for(lambda e: e.get("event") == "command" and e.get("id") == ask,
                             timeout, "answer to the TTL change")
        if not done["ok"]:
            raise LabError(f"TTL {ttl!r}: {done['error']}")
        self.ttl = ttl

    def log(self, last: int | None = 20) -> Table:
        rows = [{"time": _stamp(e["time"]), "client": e["client"], "name": e["name"], "type": e["type"],
                 "status": e["status"], "answer": e["answer"], "region": e["region"] or "-", "ttl": e["ttl"]}
                for e in self.queries()[-last if last else None:]]
        return Table(rows, ["time", "client", "name", "type", "status", "answer", "region", "ttl"],
                     title=f"DNS query log ({self.where}, {self.address})")

    def health_log(self) -> Table:
        rows = [{"time": _stamp(e["time"]), "address": e["address"], "now": e["state"], "after": e["rule"],
                 "last error": e["why"] or "-"} for e in self.health_events()]
        h = self.health
        title = "health changes" + (f" (TCP connect to port {h['port']} every {h['inter']:g} s, fall {h['fall']},"
                                    f" rise {h['rise']})" if h else ": no health checks")
        return Table(rows, ["time", "address", "now", "after", "last error"], title=title)

    def stop(self) -> None:
        lifecycle.unregister(self)
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # the server's signal to end
            except OSError:
                pass
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        for stream in (self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DNSProcess {self.address} in {self.where}, {state}, {len(self.queries())} queries>"


def _stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


if __name__ == "__main__":
    sys.exit(main())
