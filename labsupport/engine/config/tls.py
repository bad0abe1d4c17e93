"""TLS in a configuration: the ``bind ... ssl`` and ``server ... ssl`` keywords, and the certificate
files they name, read at parse time as HAProxy reads them (a missing or unreadable file is an error).

Bind side: ``ssl``, ``crt FILE|DIR`` (a directory loads every file in it in name order), ``crt-list
FILE`` (one certificate a line with optional SNI filters, ``!name`` excluding a name), ``ssl-min-ver``,
``ssl-max-ver``, ``alpn``, ``strict-sni``; ``crt-base`` in the global section prefixes relative paths.
Which certificate
answers which name is ``proxy.tls``'s business; here each certificate gets its names: the crt-list
filters when it has some, else its subjectAltNames and its CN.

Server side: ``ssl``, ``verify none|required``, ``ca-file``, ``sni`` (a literal ``str(NAME)``),
``check-ssl``, ``check-sni``, ``no-ssl``, ``no-check-ssl``; ``ssl-server-verify`` in the global section.

Follows HAProxy 2.6's src/cfgparse-ssl.c (bind_parse_crt, bind_parse_crt_list, parse_tls_method_minmax,
bind_parse_alpn, srv_parse_*), src/ssl_crtlist.c (crtlist_parse_file, crtlist_load_cert_dir) and
src/ssl_ckch.c (ckch_inst_new_load_store: which names a certificate is indexed under),
Copyright Willy Tarreau <w@1wt.eu> and the HAProxy contributors, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import os
import re

from .context import Context, Draft
from .model import CertEntry, TlsBind

TLS_VERSIONS = {"SSLv3": "SSLv3", "TLSv1.0": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2",
                "TLSv1.3": "TLSv1_3"}  # haproxy's names -> ssl.TLSVersion members
DIR_SKIPPED = (".issuer", ".ocsp", ".sctl", ".key")  # companion files a crt DIR holds beside the .pem
ORDER = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
NO_METHOD = {"no-sslv3": "SSLv3", "no-tlsv10": "TLSv1.0", "no-tlsv11": "TLSv1.1", "no-tlsv12": "TLSv1.2",
             "no-tlsv13": "TLSv1.3"}
FORCE_METHOD = {"force-" + k[3:]: v for k, v in NO_METHOD.items()}
BIND_TLS_WORDS = ("ssl", "crt", "crt-list", "ssl-min-ver", "ssl-max-ver", "alpn", "strict-sni", "no-tls-tickets",
                  *NO_METHOD, *FORCE_METHOD)
NO_SSLV3 = "SSLv3"  # OpenSSL 3 as Debian builds it has no SSLv3: HAProxy never counts it as enabled
SERVER_TLS_WORDS = ("ssl", "no-ssl", "verify", "ca-file", "sni", "check-ssl", "no-check-ssl", "check-sni")
_STR_EXPR = re.compile(r"str\(([^()]*)\)\Z")


def _cert_names(path: str, key_only: bool = False, names_only: bool = False) -> tuple[str, ...] | None:
    """The names a PEM bundle's certificate answers (SAN DNS names, then the CN); None when the file
    holds no certificate, () when it holds a certificate without its private key. With ``key_only``:
    () when the file holds a private key, None otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509.oid import NameOID

    try:
        with open(path, "rb") as f:
            data = f.read()
        if not key_only:
            cert = x509.load_pem_x509_certificate(data)
        at = data.find(b"PRIVATE KEY-----")
        if at < 0 and not names_only:
            return None if key_only else ()
        if not names_only:
            load_pem_private_key(data[data.rfind(b"-----BEGIN", 0, at):], password=None)
        if key_only:
            return ()
    except (OSError, ValueError, TypeError):
        return None
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        pass
    names += [str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(dict.fromkeys(names))


def _based(p: Context, path: str) -> str:
    base = getattr(p, "crt_base", None)
    return os.path.join(base, path) if base and not path.startswith("/") else path


def _load(p: Context, label: str, path: str, filters: tuple[str, ...]) -> list[CertEntry] | str:
    """Entries for ``crt PATH`` (a file or a directory); haproxy's error text otherwise."""
    if os.path.isdir(path):
        out = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if name.endswith(DIR_SKIPPED) or not os.path.isfile(full):
                continue
            got = _load(p, label, full, filters)
            if isinstance(got, str):
                return got
            out += got
        return out
    try:
        os.stat(path)
    except OSError as e:
        return f"{label}unable to stat SSL certificate from file '{path}' : {e.strerror}."
    names = _cert_names(path)
    if names is None:
        return f"{label}unable to load certificate from file '{path}'."
    key = None
    if not names:  # a certificate without its key: haproxy reads the key from PATH.key beside it
        key = path + ".key"
        if _cert_names(key, key_only=True) is None:
            return f"{label}No Private Key found in '{key}'."
        names = _cert_names(path, names_only=True) or ()
    return [CertEntry(path, filters or names, explicit=bool(filters), key=key)]


def _crt_list(p: Context, label: str, path: str) -> list[CertEntry] | str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return f"{label}'crt-list' : cannot open file '{path}' : {e.strerror}"
    out: list[CertEntry] = []
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "[" in line:  # per-certificate ssl options: the engine keeps the bind line's
            opts = line[line.index("["):line.index("]") + 1] if "]" in line else line[line.index("["):]
            p.warn(f"{p.where}'{opts}' in crt-list '{path}' line {n} is accepted by HAProxy but ignored by the "
                   "course engine.", "The course engine applies the bind line's TLS settings to every certificate.")
            line = line.replace(opts, " ")
        words = line.split()
        got = _load(p, label, _based(p, words[0]), tuple(w.lower() for w in words[1:]))
        if isinstance(got, str):
            return got
        out += got
    return out


def parse_bind_tls(p: Context, d: Draft, args: list[str], i: int, tls: dict) -> str | None | int:
    """Apply bind keyword args[i] (one of BIND_TLS_WORDS) to ``tls``; returns the words consumed, or
    haproxy's error text."""
    word = args[i]
    value = args[i + 1] if i + 1 < len(args) else ""
    label = f"{p.where}'bind {args[1]}' in section '{d.kind}' : "
    if word in ("ssl", "strict-sni", "no-tls-tickets"):
        tls[word] = True
        return 1
    if method_option(word, tls):
        return 1
    if word == "crt":
        if not value:
            return f"{label}'crt' : missing certificate location"
        got = _load(p, label, _based(p, value), ())
    elif word == "crt-list":
        if not value:
            return f"{label}'crt-list' : missing certificate location"
        got = _crt_list(p, label, _based(p, value))
    elif word in ("ssl-min-ver", "ssl-max-ver"):
        if not value:
            return f"{label}'{word}' : missing the ssl/tls version"
        if value not in TLS_VERSIONS:
            return f"{label}'{value}' : unknown ssl/tls version"
        tls[word] = value
        return 2
    elif word == "alpn":
        if not value:
            return f"{label}'alpn' : missing the comma-delimited ALPN protocol suite"
        protocols = tuple(x for x in value.split(",") if x)
        others = [x for x in protocols if x != "http/1.1"]
        if others:
            p.warn(f"{p.where}'alpn {value}': the course engine speaks HTTP/1.1 only, so it offers "
                   f"'http/1.1' and never {', '.join(repr(x) for x in others)} (HAProxy would).",
                   "Write 'alpn http/1.1' for the same behaviour on both.")
        tls["alpn"] = tuple(x for x in protocols if x == "http/1.1")
        return 2
    else:
        return None
    if isinstance(got, str):
        return got
    tls.setdefault("certs", []).extend(got)
    return 2


def method_option(word: str, tls: dict) -> bool:
    """parse_tls_method_options: ``no-sslv3``/``no-tlsv1x`` disable one version, ``force-X`` allows X only."""
    if word in NO_METHOD:
        tls["no"] = tls.get("no", frozenset()) | {NO_METHOD[word]}
    elif word in FORCE_METHOD:
        tls["ssl-min-ver"] = tls["ssl-max-ver"] = FORCE_METHOD[word]
    else:
        return False
    return True


def parse_default_bind_options(args: list[str]) -> dict | str:
    """``ssl-default-bind-options ...`` in global: the settings every later ``bind`` starts from, or
    haproxy's error text."""
    tls: dict = {}
    i = 1
    while i < len(args):
        word = args[i]
        if word in ("ssl-min-ver", "ssl-max-ver"):
            value = args[i + 1] if i + 1 < len(args) else ""
            if not value:
                return f"'{word}' : missing the ssl/tls version on global statement '{args[0]}'."
            if value not in TLS_VERSIONS:
                return f"'{value}' : unknown ssl/tls version on global statement '{args[0]}'."
            tls[word] = value
            i += 1
        elif word == "no-tls-tickets":
            tls[word] = True
        elif word != "prefer-client-ciphers" and not method_option(word, tls):
            return f"unknown option '{word}' on global statement '{args[0]}'."
        i += 1
    return tls


def _versions(tls: dict) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """(lowest, highest) version a bind line allows, and what ssl_sock_prepare_ctx says about them:
    (level, text with {bind} for "bind 'ADDR' at [FILE:LINE]") pairs."""
    no, lo, hi = set(tls.get("no", ())), tls.get("ssl-min-ver"), tls.get("ssl-max-ver")
    notes = []
    if no and (lo or hi):
        notes.append(("WARNING", "no-sslv3/no-tlsv1x are ignored for {bind}. Use only 'ssl-min-ver' and "
                                 "'ssl-max-ver' to fix."))
        no = set()
    enabled, hole = [], None
    floor = lo or "TLSv1.2"  # HAProxy 2.6's default 'ssl-min-ver TLSv1.2' (it does not count as set above)
    for v in ORDER:
        on = (v != NO_SSLV3 and v not in no and ORDER.index(v) >= ORDER.index(floor)
              and (hi is None or ORDER.index(v) <= ORDER.index(hi)))
        if on:
            if enabled and hole:
                notes.append(("WARNING", f"SSL/TLS versions range not contiguous for {{bind}}. Hole find for "
                                         f"{hole}. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix."))
            enabled.append(v)
        elif enabled:
            hole = v
    if not enabled:
        notes.append(("ALERT", "all SSL/TLS versions are disabled for {bind}."))
        return None, None, notes
    return enabled[0], enabled[-1], notes


def bind_tls(tls: dict) -> tuple[TlsBind | None, list[tuple[str, str]]]:
    """The model of a bind line's TLS settings (None without ``ssl``), and the notes on its versions."""
    if not tls.get("ssl"):
        return None, []
    low, high, notes = _versions(tls)
    return TlsBind(tuple(tls.get("certs", ())), low, high, tls.get("alpn", ()), tls.get("strict-sni", False),
                   tls.get("no-tls-tickets", False)), notes


def parse_server_tls(p: Context, s: dict, args: list[str], i: int) -> str | None:
    """Apply server keyword args[i] (one of SERVER_TLS_WORDS) to ``s``; haproxy's error text or None."""
    word = args[i]
    value = args[i + 1] if i + 1 < len(args) else ""
    if word in ("ssl", "no-ssl"):
        s["ssl"] = word == "ssl"
    elif word in ("check-ssl", "no-check-ssl"):
        s["check_ssl"] = word == "check-ssl"
    elif word == "verify":
        if not value:
            return "'verify' : missing verify method"
        if value not in ("none", "required"):
            return f"'verify' : unknown verify method '{value}', only 'none' and 'required' are supported"
        s["_verify"] = value  # check_tls applies it, or else the global 'ssl-server-verify'
    elif word == "ca-file":
        if not value:
            return "'ca-file' : missing CAfile path"
        path = based_ca(p, value)
        if not os.path.isfile(path):
            why = os.strerror(2) if not os.path.exists(path) else "Is a directory"
            return f"Couldn't open the ca-file '{path}' ({why})"
        s["ca_file"] = path
    elif word == "check-sni":
        if not value:
            return "'check-sni' : missing SNI"
        s["check_sni"] = value
    elif word == "sni":
        if not value:
            return "'sni' : missing sni expression"
        m = _STR_EXPR.match(value)
        if m:
            s["sni"] = m.group(1)
        else:
            s["sni"] = None
            p.warn(f"{p.where}'sni {value}': the course engine understands a literal 'str(NAME)' only, so "
                   "this server gets no SNI (HAProxy would evaluate the expression for each connection).",
                   "Write e.g. 'sni str(app.lab)'.")
    return None


def based_ca(p: Context, path: str) -> str:
    base = getattr(p, "ca_base", None)
    return os.path.join(base, path) if base and not path.startswith("/") else path


def check_tls(p: Context, d: Draft) -> None:
    """haproxy's post-parse TLS checks (ssl_sock_prepare_bind_conf, ssl_sock_prepare_srv_ctx)."""
    for line, name, tls, notes in d.tls_binds:
        for level, text in notes:
            (p.warn if level == "WARNING" else p.alert)(
                f"Proxy '{d.name}': " + text.format(bind=f"bind '{name}' at [{p.file}:{line}]"),
                "Say which versions with 'ssl-min-ver' and 'ssl-max-ver' only.", line=line)
        if tls.certs:
            continue
        text = f"Proxy '{d.name}': no SSL certificate specified for bind '{name}' at [{p.file}:{line}]"
        hint = "Name a certificate bundle: 'bind :443 ssl crt site.pem'."
        if tls.strict_sni:  # no default certificate is needed: every handshake is then refused
            p.warn(f"{text}, ssl connections will fail (use 'crt').", hint, line=line)
        else:
            p.alert(f"{text} (use 'crt').", hint, line=line)
    default_verify = getattr(p, "ssl_server_verify", "required")
    for s in d.servers:
        verify = s.pop("_verify", None) or default_verify
        s["verify"] = verify
        if not (s.get("ssl") or s.get("check_ssl")):
            continue
        if verify == "required" and not s.get("ca_file"):
            # haproxy words it by the global default, whatever the server line says
            text = ("verify is enabled by default but no CA file specified. If you're running on a LAN where "
                    "you're certain to trust the server's certificate, please set an explicit 'verify none' "
                    "statement on the 'server' line, or use 'ssl-server-verify none' in the global section to "
                    "disable server-side verifications by default." if default_verify == "required"
                    else "verify is enabled but no CA file specified.")
            p.alert(f"[{p.file}:{s['line']}] : 'server {d.name}/{s['name']}' : {text}",
                    "Give the CA that signed the server's certificate: 'ca-file lab_ca.pem'.", line=s["line"])
