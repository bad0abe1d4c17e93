"""HAProxy 2.6's ``option tcplog`` line: one per mode tcp connection, written when the connection ends.

Follows src/log.c's default_tcp_log_format (Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later, this
project's licence): ``%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq``.

- ``%t`` is the accept date; ``%b/%s`` the backend and server (``FE/<NOSRV>`` when no backend was chosen,
  ``BE/<NOSRV>`` when no server was).
- ``%Tw`` runs from the accept until a server was assigned (a wait for ``tcp-request content`` rules
  included), ``%Tc`` is the connect time, ``%Tt`` the whole connection, all in ms, -1 for a stage never
  reached; ``%B`` counts the bytes sent to the client.
- ``%ts``: who ended the connection and when: ``--`` normally, ``PR`` a content rule rejected it, ``cR``
  the client said nothing for ``timeout client`` while rules waited, ``SC`` no server or the connection
  to it failed, ``sQ`` a queue timeout, ``CD``/``SD`` a reset from the client/server during the
  transfer, ``cD``/``sD`` an idle timeout.
- ``%ac/%fc/%bc/%sc/%rc``: connections on the process, frontend, backend, server when the line is
  written (the backend and server have let this one go), and retries; ``%sq/%bq`` queue positions.

tests/differential/test_tcplog.py compares these lines with HAProxy 2.6.12's.
"""
from __future__ import annotations

from .logs import log_date


def tcplog_line(client: str | None, port: int, accepted: float, frontend: str, backend: str, server: str,
                Tw: int, Tc: int, Tt: int, sent: int, term: str, ac: int, fc: int, bc: int, sc: int, rc: str,
                sq: int, bq: int) -> str:
    return (f"{client}:{port} [{log_date(accepted)}] {frontend} {backend}/{server} {Tw}/{Tc}/{Tt} {sent} {term} "
            f"{ac}/{fc}/{bc}/{sc}/{rc} {sq}/{bq}")
