"""A lab certificate authority: a CA of the lab's own, and certificates for the lab's names.

Made with the ``cryptography`` package, written as PEM files the way HAProxy loads them:

* ``bundle(...)``: one ``.pem`` holding the certificate, its private key and the chain (the CA
  certificate), the file ``bind ... ssl crt FILE`` reads;
* ``crt_dir(...)``: a folder of such bundles, for ``crt DIR`` (HAProxy loads every file in it, in
  name order; the first one is the default certificate);
* ``crt_list(...)``: a ``crt-list`` file, one bundle a line with optional SNI filters.

Clients trust the lab CA only (``requests.get(..., verify=ca.ca_file)``, ``curl --cacert``): nothing here
touches the system's trust store. Everything goes under this user's run folder (``labsupport.rundir``),
in a ``certs`` folder of its own, unless a folder is given.

To show what a browser would complain about, ``LabCA.rogue()`` is another CA nobody trusts (a certificate
it signs is "wrongly signed" for the lab's clients) and ``issue(..., expired=True)`` makes a certificate
whose validity ended yesterday.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..rundir import run_dir

KEY_TYPES = ("ec", "rsa")
DAY = dt.timedelta(days=1)


def _key(kind: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if kind not in KEY_TYPES:
        raise ValueError(f"unknown key type {kind!r} (expected one of: {', '.join(KEY_TYPES)})")
    # P-256 by default: made in a millisecond, and every TLS client accepts it; RSA 2048 to measure its cost
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, with the CA that signed it."""

    names: tuple[str, ...]  # the subject's CN is names[0]; every name is a subjectAltName
    cert: x509.Certificate
    key: object
    issuer: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return _pem_cert(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _pem_key(self.key)

    @property
    def bundle_pem(self) -> bytes:
        """Certificate, key, then the chain: what ``crt FILE`` reads."""
        return self.cert_pem + self.key_pem + _pem_cert(self.issuer)

    def __repr__(self) -> str:
        until = self.cert.not_valid_after_utc.strftime("%Y-%m-%d")
        return f"<Issued {', '.join(self.names)} by {_cn(self.issuer)!r} until {until}>"


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


class LabCA:
    """A certificate authority of the lab's own: ``LabCA()`` makes one and writes ``ca.pem``."""

    def __init__(self, folder: str | Path | None = None, name: str = "Lab CA", key_type: str = "ec") -> None:
        self.folder = Path(folder) if folder is not None else run_dir() / "certs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.key = _key(key_type)
        now = dt.datetime.now(dt.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Load balancing lab")])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - DAY).not_valid_after(now + 3650 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = self.folder / f"{self._stem(name)}.pem"
        self.ca_file.write_bytes(_pem_cert(self.cert))

    @staticmethod
    def _stem(name: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.lower().replace("*", "wildcard"))

    def __repr__(self) -> str:
        return f"<LabCA {self.name!r} in {self.folder}>"

    def rogue(self, name: str = "Rogue CA") -> LabCA:
        """Another CA, in the same folder, that the lab's clients do not trust."""
        return LabCA(self.folder, name)

    def issue(self, *names: str, expired: bool = False, days: int = 365, key_type: str = "ec") -> Issued:
        """A server certificate for ``names`` (CN = the first; all as subjectAltNames; ``*.lab`` works)."""
        if not names:
            raise ValueError("issue() needs at least one name, e.g. ca.issue('web.lab')")
        key = _key(key_type)
        now = dt.datetime.now(dt.timezone.utc)
        start, end = (now - 30 * DAY, now - DAY) if expired else (now - DAY, now + days * DAY)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return Issued(tuple(names), cert, key, self.cert)

    def bundle(self, *names: str, folder: str | Path | None = None, filename: str | None = None,
               expired: bool = False, key_type: str = "ec") -> Path:
        """Issue a certificate for ``names`` and write it as one HAProxy ``.pem`` (cert + key + chain)."""
        issued = self.issue(*names, expired=expired, key_type=key_type)
        where = Path(folder) if folder is not None else self.folder
        where.mkdir(parents=True, exist_ok=True)
        path = where / (filename or f"{self._stem(names[0])}.pem")
        path.write_bytes(issued.bundle_pem)
        path.chmod(0o600)  # it holds a private key
        return path

    def cert_and_key(self, *names: str, folder: str | Path | None = None) -> tuple[Path, Path]:
        """Certificate (with chain) and key as two files: what ``backends/app.py --tls CERT KEY`` reads."""
        issued = self.issue(*names)
        where = Path(folder) if folder is not None else self.folder
        where.mkdir(parents=True, exist_ok=True)
        stem = self._stem(names[0])
        cert, key = where / f"{stem}.crt", where / f"{stem}.key"
        cert.write_bytes(issued.cert_pem + _pem_cert(self.cert))
        key.write_bytes(issued.key_pem)
        key.chmod(0o600)
        return cert, key

    def crt_dir(self, folder: str | Path, *groups: str | tuple[str, ...]) -> Path:
        """A folder for ``crt DIR``: one bundle per group of names, written in the order given (HAProxy
        loads the folder in name order, so files are numbered to keep that order: the first is the default)."""
        where = Path(folder)
        where.mkdir(parents=True, exist_ok=True)
        for i, group in enumerate(groups):
            names = (group,) if isinstance(group, str) else tuple(group)
            self.bundle(*names, folder=where, filename=f"{i:02d}-{self._stem(names[0])}.pem")
        return where

    def crt_list(self, path: str | Path, entries: list[tuple[Path, tuple[str, ...]]]) -> Path:
        """A ``crt-list`` file: each line a bundle path and the SNI filters it answers (none: its own names)."""
        path = Path(path)
        lines = [" ".join([str(pem), *filters]) for pem, filters in entries]
        path.write_text("\n".join(lines) + "\n")
        return path


def subject_names(cert_der: bytes) -> tuple[str, tuple[str, ...]]:
    """(CN, subjectAltNames) of a DER certificate, e.g. what ``SSLSocket.getpeercert(True)`` returns."""
    cert = x509.load_der_x509_certificate(cert_der)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alt = tuple(str(v) for v in sans.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        alt = ()
    return _cn(cert), alt
