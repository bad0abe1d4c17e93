"""DNS service discovery at run time: the ``resolvers`` sections ask their nameservers and give the
servers that name them (``server-template ... resolvers lab``) their addresses, as HAProxy 2.6 does.

How it works. One ``Resolution`` per (resolvers section, name, preferred family), shared by every server
that asks for that name, in configuration order. The decisions are plain functions, no sockets:

- ``Resolution.update(now, status, ips)``: a valid answer refreshes each address's "last seen"; an
  address missing from the answers is kept until ``hold obsolete`` has passed since it was last seen.
  An error (nx, timeout, refused, other) keeps every address until ``hold <status>`` has passed since
  the last valid answer, then takes them from the servers (None: every server goes to MAINT
  (resolution)); the records themselves stay until a valid answer finds them obsolete, so a name
  back within ``hold obsolete`` gives the servers its old addresses first (observed on 2.6.12).
- ``assign(current, addresses)``: each server, in order, keeps its address while it is still there;
  a server without one takes the first address no other server uses (HAProxy's default
  prevent-dup-ip), "first" in HAProxy's answer tree: ordered by XXH32 of the address bytes, seeded
  with the record type (A 1, AAAA 28) -- not the order of the answer, so 127.0.0.11 and .12 go to
  web2 and web1. A server left without any goes to MAINT (resolution) ("No IP for server").

``ResolverTask`` is the asyncio part: it asks (dnspython's async UDP client) the preferred family first
(AAAA unless ``resolve-prefer ipv4``), then the other one; ``resolve_retries`` tries of ``timeout retry``
each; after a valid answer it waits ``hold valid``, after anything else ``timeout resolve``. Only
nameservers on loopback addresses are asked (config/resolvers.py warns about the others).

Follows HAProxy 2.6's src/resolvers.c (resolv_process_resolvers, resolv_validate_dns_response,
resolv_get_ip_from_response) and src/server.c (snr_resolution_cb, snr_update_srv_status,
srv_update_addr), Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from ..xxh64 import xxh32

# the reason HAProxy gives when an error's hold period ends (snr_update_srv_status)
ERROR_REASONS = {"nx": "DNS NX status", "timeout": "DNS timeout status", "refused": "DNS refused status",
                 "other": "unspecified DNS error"}
NO_IP = "No IP for server "  # sic: HAProxy's text ends with a space


@dataclass
class Resolution:
    """One name asked of one resolvers section; see the module docstring."""

    hold: dict  # ms per event, as ResolversConfig.hold
    fqdn: str
    records: dict[str, float] = field(default_factory=dict)  # address -> last seen; in first-seen order
    last_valid: float | None = None
    status: str = "none"

    def update(self, now: float, status: str, ips: list[str] = ()) -> list[str] | None:
        """Take one resolution's outcome; the addresses servers may hold now, or None: drop them all."""
        self.status = status
        if status == "valid":
            self.last_valid = now
            for ip in ips:
                self.records[ip] = now
            obsolete = self.hold["obsolete"] / 1000
            self.records = {ip: seen for ip, seen in self.records.items() if now - seen <= obsolete}
            return list(self.records)
        if self.last_valid is None or now - self.last_valid >= self.hold[status] / 1000:
            return None  # the records stay: the next valid answer may still find them (hold obsolete)
        return list(self.records)


def answer_key(ip: str) -> int:
    """Where HAProxy files an address record in its answer tree (resolv_validate_dns_response)."""
    a = ipaddress.ip_address(ip)
    return xxh32(a.packed, dns.rdatatype.A if a.version == 4 else dns.rdatatype.AAAA)


def assign(current: list[str | None], addresses: list[str]) -> list[str | None]:
    """The address of each server (in order) after an answer: see the module docstring
    (resolv_get_ip_from_response: a server's own address scores 3, a free one 2, a used one is skipped)."""
    tree = sorted(addresses, key=answer_key)
    out = [ip if ip in addresses else None for ip in current]
    for i, ip in enumerate(out):
        if ip is not None:
            continue
        used = set(out[:i] + out[i + 1:])
        out[i] = next((a for a in tree if a not in used), None)
    return out


class ResolverTask:
    """Asks one resolvers section for every name its servers need, for ever (until cancelled)."""

    def __init__(self, engine, cfg, groups: dict[tuple[str, str], list]) -> None:
        self.engine, self.cfg = engine, cfg
        self.groups = groups  # (fqdn, preferred family) -> servers, in configuration order
        self.resolutions = {key: Resolution(cfg.hold, key[0]) for key in groups}
        self.tasks = [engine.loop.create_task(self._run(key)) for key in groups]

    def cancel(self) -> None:
        for t in self.tasks:
            t.cancel()

    async def _run(self, key: tuple[str, str]) -> None:
        res = self.resolutions[key]
        while True:
            try:
                status, ips, ns = await self._resolve(key[0], key[1])
                self.apply(self.groups[key], res.update(time.monotonic(), status, ips), res.status, ns)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # an engine bug costs one resolution, never the asking (nor a traceback)
                status = "other"
                self.engine.event("ALERT", f"resolvers '{self.cfg.name}': resolving '{key[0]}' failed: {e!r}")
            wait = max(self.cfg.hold["valid"], self.cfg.timeout_resolve) if status == "valid" else self.cfg.timeout_resolve
            await asyncio.sleep(wait / 1000)

    async def _ask(self, name: str, rdtype, ip: str, port: int):
        q = dns.message.make_query(name, rdtype, use_edns=0, payload=self.cfg.accepted_payload_size)
        return await dns.asyncquery.udp(q, ip, port=port, timeout=self.cfg.timeout_retry / 1000,
                                        ignore_unexpected=True)

    async def _resolve(self, fqdn: str, prefer: str) -> tuple[str, list[str], str]:
        """(status, addresses, nameserver name) of one resolution: ``resolve_retries`` queries in all,
        the preferred family first; an answer without addresses moves on to the other family, silence
        asks the same again (resolv_process_resolvers, resolv_process_responses)."""
        families = [dns.rdatatype.AAAA, dns.rdatatype.A] if prefer == "ipv6" else [dns.rdatatype.A, dns.rdatatype.AAAA]
        servers = [(n, ip, port) for n, ip, port, ok in self.cfg.nameservers if ok]
        name = fqdn if fqdn.endswith(".") else fqdn + "."
        status = "timeout"
        for _ in range(max(1, self.cfg.resolve_retries)):
            rdtype = families[0]
            replies = await asyncio.gather(*(self._ask(name, rdtype, ip, port) for _, ip, port in servers),
                                           return_exceptions=True)
            got = [(servers[i][0], r) for i, r in enumerate(replies) if isinstance(r, dns.message.Message)]
            if not got:
                continue  # silence: the same question again
            for ns, r in got:
                ips = [rd.address for rrset in r.answer if rrset.rdtype == rdtype for rd in rrset]
                if r.rcode() == dns.rcode.NOERROR and ips:
                    return "valid", ips, ns
            status = {dns.rcode.NXDOMAIN: "nx", dns.rcode.REFUSED: "refused"}.get(got[0][1].rcode(), "other")
            if len(families) == 1:
                break
            families.pop(0)  # an answer without addresses: ask for the other family
        return status, [], ""

    # ----- acting on servers
    def apply(self, servers: list, addresses: list[str] | None, status: str, ns: str) -> None:
        """Give each server its address; MAINT (resolution) for those left without one."""
        if addresses is None:
            for srv in servers:
                if not srv.health.rmaint:
                    self._to_maint(srv, ERROR_REASONS.get(status, ERROR_REASONS["other"]))
            return
        new = assign([srv.addr[0] or None for srv in servers], addresses)
        first = True
        for srv, ip in zip(servers, new):
            if ip is None:
                if not srv.health.rmaint:
                    self._to_maint(srv, NO_IP)
                continue
            reason = f"{self.cfg.name}/{ns}" if first and ns else "DNS cache"
            first = False
            old = srv.addr[0]
            if ip != old:  # srv_update_addr's line (a notice in the log; stderr says [WARNING])
                srv.set_addr(ip, None, reason)
                self.engine.event("WARNING", f"{srv.backend.name}/{srv.name} changed its IP from "
                                             f"{old or '(none)'} to {ip} by {reason}.")
            if srv.health.rmaint:
                self._from_maint(srv)

    def _to_maint(self, srv, why: str) -> None:
        engine, h = self.engine, srv.health
        was, down_before = h.usable, h.op == "stopped"
        h.set_rmaint(True)
        srv.addr = ("", srv.addr[1])  # no address at all: nothing 'set server addr' can say
        srv.close_idle()
        name = engine._name(srv)

        def say(xferred: int) -> list[str]:
            if down_before:
                return [f"{name} was DOWN and now enters maintenance ({why})."]
            return [f"{name} is going DOWN for maintenance ({why}). {engine._left(srv, xferred)}"]

        engine._apply(srv, was, say=say)

    def _from_maint(self, srv) -> None:
        engine, h = self.engine, srv.health
        was = h.usable
        h.set_rmaint(False)
        name = engine._name(srv)
        updown = "DOWN" if h.op == "stopped" else "UP"

        def say(xferred: int) -> list[str]:
            return [f"{name} ('{srv.cfg.fqdn}') is {updown}/READY (resolves again).",
                    f"{name} administratively READY thanks to valid DNS answer."]

        engine._apply(srv, was, say=say)


def start_resolvers(engine, old: list[ResolverTask]) -> list[ResolverTask]:
    """Cancel ``old`` and start one ResolverTask per resolvers section some server uses."""
    stop_resolvers(old)
    out = []
    for cfg in engine.config.resolvers:
        groups: dict[tuple[str, str], list] = {}
        for be in engine.backends.values():
            for srv in be.servers.values():
                if srv.cfg.resolvers == cfg.name and srv.cfg.fqdn:
                    groups.setdefault((srv.cfg.fqdn, srv.cfg.resolve_prefer), []).append(srv)
        if groups and cfg.queried:
            out.append(ResolverTask(engine, cfg, groups))
    return out


def stop_resolvers(tasks: list[ResolverTask]) -> None:
    for t in tasks:
        t.cancel()
