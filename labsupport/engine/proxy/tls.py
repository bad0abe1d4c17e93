"""TLS with Python's ``ssl``: the contexts of a ``bind ... ssl`` line, the SNI choice, and the client
contexts the engine uses towards ``server ... ssl`` (traffic and health checks).

How the certificate is chosen (as HAProxy 2.6's ssl_sock_switchctx_cbk does, checked against it):
the client's SNI, lower-cased, is looked up among the exact names first; then its part from the
first dot (``x.api.lab`` -> ``.api.lab``) among the wildcard names (``*.api.lab`` covers one label
only); among several certificates for the same name, the first loaded wins; a crt-list line's
``!name`` keeps that line's certificate from answering ``name``. Without SNI, or when nothing
matches, the default certificate answers: the first one the bind line loaded (with ``strict-sni``,
the handshake is refused instead).

Where the connection's TLS state is: ``tls_state(transport)`` gives ``(ssl_object, sni)``;
``HttpClient.ssl_object`` / ``HttpClient.sni`` (and ``TcpClient``'s) read it, for ``ssl_fc`` and
``ssl_fc_sni``.

Follows HAProxy 2.6's src/ssl_sock.c (ssl_sock_switchctx_cbk, ssl_sock_prepare_srv_ctx, the
server-side verify callback: the name checked is the SNI sent), Copyright Willy Tarreau <w@1wt.eu>
and the HAProxy contributors, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import functools
import ssl

from ..config.model import CertEntry, ServerConfig, TlsBind

# HAProxy 2.6 refuses anything older than TLSv1.2 unless told otherwise (ssl-default-bind-options)
DEFAULT_MIN = "TLSv1.2"
VERSIONS = {"SSLv3": ssl.TLSVersion.SSLv3, "TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
            "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def _server_side(entry: CertEntry | None, tls: TlsBind) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if entry is not None:  # cert, then chain, and the key from the same bundle (or PATH.key)
        ctx.load_cert_chain(entry.path, entry.key)
    ctx.minimum_version = VERSIONS[tls.min_ver or DEFAULT_MIN]
    if tls.max_ver:
        ctx.maximum_version = VERSIONS[tls.max_ver]
    if tls.alpn:
        ctx.set_alpn_protocols(list(tls.alpn))
    if tls.no_tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


class CertificateLoadError(Exception):
    """A certificate file that loaded when the configuration was read no longer does (changed since)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unable to load certificate from file '{path}' : {reason}")
        self.path, self.reason = path, reason


def _load(entry: CertEntry, tls: TlsBind) -> ssl.SSLContext:
    try:
        return _server_side(entry, tls)
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        raise CertificateLoadError(entry.path, getattr(e, "strerror", None) or str(e)) from None


class FrontTLS:
    """The SSL contexts of one TLS bind line; ``context`` is the one the listener starts with."""

    def __init__(self, tls: TlsBind) -> None:
        self.tls = tls
        self.exact: dict[str, int] = {}  # name -> index of the first certificate loaded for it
        self.wild: dict[str, list[int]] = {}  # ".api.lab" -> indexes, in load order
        self.negated: list[frozenset[str]] = []  # per certificate: names its crt-list line excluded
        for i, entry in enumerate(tls.certs):
            neg = set()
            for name in entry.names:
                if name.startswith("!"):
                    neg.add(name[1:])
                elif name.startswith("*."):
                    self.wild.setdefault(name[1:], []).append(i)
                else:
                    self.exact.setdefault(name, i)
            self.negated.append(frozenset(neg))
        self.contexts = [_load(e, tls) for e in tls.certs]
        # strict-sni without a certificate: a context that refuses every handshake (at the SNI callback)
        self.context = self.contexts[0] if self.contexts else _server_side(None, tls)
        for ctx in self.contexts or [self.context]:
            ctx.sni_callback = self._on_sni

    def match(self, server_name: str | None) -> int | None:
        """Index of the certificate configured for ``server_name``; None when none is."""
        if not server_name:
            return None
        name = server_name.lower()
        i = self.exact.get(name)
        if i is not None:
            return i
        dot = name.find(".")
        if dot >= 0:
            for i in self.wild.get(name[dot:], ()):
                if name not in self.negated[i]:
                    return i
        return None

    def pick(self, server_name: str | None) -> int:
        """Index of the certificate that answers ``server_name`` (0, the default, when none matches)."""
        i = self.match(server_name)
        return 0 if i is None else i

    def _on_sni(self, sslobj, server_name: str | None, ctx: ssl.SSLContext) -> int | None:
        sslobj.lab_sni = server_name  # read back by tls_state (the fetch ssl_fc_sni)
        i = self.match(server_name)
        if i is None and (self.tls.strict_sni or not self.contexts):  # no default certificate: refuse
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        chosen = self.contexts[i or 0]
        if chosen is not ctx:
            sslobj.context = chosen
        return None


def tls_state(transport) -> tuple[ssl.SSLObject | None, str | None]:
    """(the SSLObject, the SNI the client sent) of a client connection; (None, None) in clear text."""
    if transport is None:
        return None, None
    obj = transport.get_extra_info("ssl_object")
    return obj, getattr(obj, "lab_sni", None) if obj is not None else None


@functools.lru_cache(maxsize=256)
def _client_context(verify: str, ca_file: str | None, check_name: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify == "required" and ca_file:
        ctx.load_verify_locations(ca_file)
        # haproxy checks the certificate's names against the SNI it sent (no SNI: the chain only)
        ctx.check_hostname = check_name
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


X509_V_ERR_HOSTNAME_MISMATCH = 62


def name_mismatch(exc: BaseException) -> bool:
    """True when a server's handshake failed because its certificate is for another name than the SNI
    sent: HAProxy 2.6 then gives up at once, without retries (backend.c, back_handle_st_cer)."""
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code == X509_V_ERR_HOSTNAME_MISMATCH


def server_tls(cfg: ServerConfig, check: bool = False) -> tuple[ssl.SSLContext | None, str | None]:
    """(context, SNI) for a connection to a server: traffic, or with ``check`` a health check (which
    uses TLS with ``ssl`` or ``check-ssl``, and sends ``check-sni``, not ``sni``)."""
    if not (cfg.ssl or (check and cfg.check_ssl)):
        return None, None
    sni = cfg.check_sni if check else cfg.sni
    return _client_context(cfg.verify, cfg.ca_file, sni is not None), sni
