"""Lesson 07, part B: which certificate a TLS listener shows for each name, and what a browser makes of it.

    certificates(lb, ["www.lab", "api.lab", None], cafile=ca.ca_file)   -> Table
    server_checks("vault", engine=lb, haproxy=hx)                         -> Table

For each server name (SNI; None: a client that sends none) it opens a TLS connection without checking
anything, to see the certificate served (its CN and every name it is valid for), then again as a browser
that trusts only the lab's CA would, and says what that browser says: "trusted", or the reason it refuses
(a name mismatch, an unknown CA, an expired certificate). Python's ``ssl`` does both.

``server_checks`` shows, for the servers of one backend, what each balancer's health checks found: the
status, the check's short status (``L6OK``, ``L6RSP``...) and its description, as the stats page has them.
"""
from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from ...course.certs import subject_names
from ...course.display.table import Table
from ...course.snapshot import server_rows
from ...errors import UsageError
from .services import address, tls_client


def _served(host: str, port: int, sni: str | None, timeout: float) -> tuple[str, tuple[str, ...]] | str:
    try:
        with socket.create_connection((host, port), timeout) as raw, \
                tls_client().wrap_socket(raw, server_hostname=sni) as s:
            return subject_names(s.getpeercert(True))
    except (OSError, ValueError) as e:
        return f"no TLS ({e.__class__.__name__}: {e})"


def _verdict(host: str, port: int, sni: str | None, cafile: str, timeout: float) -> str:
    try:
        with socket.create_connection((host, port), timeout) as raw, \
                tls_client(cafile).wrap_socket(raw, server_hostname=sni or host) as s:
            s.getpeercert()
            return "trusted"
    except ssl.SSLCertVerificationError as e:
        return f"refused: {e.verify_message}"
    except OSError as e:
        return f"refused: {e.__class__.__name__}"


def certificates(balancer, names, cafile: str | None = None, timeout: float = 3.0) -> Table:
    """One row per name: the certificate a TLS address serves to a client asking for it, and (with
    ``cafile``) whether a browser trusting that CA accepts it for that name."""
    url = address(balancer, https=True)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UsageError(f"certificates() needs a TLS address (https://...), not {url!r}")
    rows = []
    for name in names:
        got = _served(parts.hostname, parts.port or 443, name, timeout)
        row = {"name asked (SNI)": name or "(none)"}
        if isinstance(got, str):
            row.update({"certificate served": got, "valid for": ""})
        else:
            row.update({"certificate served": got[0], "valid for": ", ".join(got[1])})
        if cafile is not None:
            row["a browser trusting the lab CA"] = (_verdict(parts.hostname, parts.port or 443, name, cafile, timeout)
                                                    if name else "(browsers always send a name)")
        rows.append(row)
    return Table(rows)


def server_checks(backend: str, **balancers) -> Table:
    """One row per server of ``backend`` and balancer (label=balancer; None is left out): its status and
    what its last health check said (``check_status``, ``check_desc``), as the stats page shows them."""
    chosen = {label: b for label, b in balancers.items() if b is not None}
    if not chosen:
        raise UsageError("give at least one balancer, e.g. server_checks('vault', engine=lb, haproxy=hx)")
    rows = []
    for label, b in chosen.items():
        found = server_rows(b.snapshot(), backend)
        if not found:
            raise UsageError(f"{label} has no backend {backend!r} with servers")
        for r in found:
            rows.append({"balancer": label, "server": f"{backend}/{r['svname']}", "status": r.get("status", ""),
                         "check": r.get("check_status", ""), "what the check found": r.get("check_desc", "")})
    return Table(rows)
