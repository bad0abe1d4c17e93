"""The lab CA (labsupport.course.certs): what it writes, and what a TLS client trusting only the lab CA
makes of each certificate (handshakes run in memory with Python's ssl, no sockets)."""
from __future__ import annotations

import ssl
import stat

import pytest

from labsupport import rundir
from labsupport.course.certs import LabCA, subject_names


def handshake(server_pem, ca_file, name: str | None) -> bytes:
    """A TLS handshake between a server showing ``server_pem`` and a client trusting ``ca_file`` that
    asks for ``name``; the server certificate (DER); raises ssl.SSLCertVerificationError when refused."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(server_pem)
    cctx = ssl.create_default_context(cafile=str(ca_file))
    if name is None:
        cctx.check_hostname = False
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = cctx.wrap_bio(bios[0], bios[1], server_hostname=name)
    server = sctx.wrap_bio(bios[2], bios[3], server_side=True)
    done = {id(client): False, id(server): False}
    for _ in range(20):  # a handshake is a few round trips: bounded
        for side in (client, server):
            if done[id(side)]:
                continue
            try:
                side.do_handshake()
                done[id(side)] = True
            except ssl.SSLWantReadError:
                pass
        bios[2].write(bios[1].read())  # client -> server
        bios[0].write(bios[3].read())  # server -> client
        if all(done.values()):
            return client.getpeercert(True)
    raise AssertionError("the handshake never finished")


@pytest.fixture
def ca(tmp_path):
    return LabCA(tmp_path)


def test_ca_file_and_repr(ca, tmp_path):
    assert ca.ca_file == tmp_path / "lab_ca.pem"
    assert ca.ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert repr(ca) == f"<LabCA 'Lab CA' in {tmp_path}>"


def test_default_folder_is_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir, "_chosen", None)
    monkeypatch.setenv("LAB_RUN", str(tmp_path / "run"))
    assert LabCA().folder == tmp_path / "run" / "certs"


def test_bundle_is_cert_key_chain_and_private(ca):
    pem = ca.bundle("web.lab", "www.lab")
    blocks = [line for line in pem.read_text().splitlines() if line.startswith("-----BEGIN")]
    assert blocks == ["-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----"]
    assert pem.name == "web.lab.pem" and stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert subject_names(handshake(pem, ca.ca_file, "www.lab")) == ("web.lab", ("web.lab", "www.lab"))


def test_names_the_client_accepts(ca):
    wild = ca.bundle("*.api.lab")
    assert subject_names(handshake(wild, ca.ca_file, "v1.api.lab"))[0] == "*.api.lab"
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(wild, ca.ca_file, "a.b.api.lab")  # a wildcard covers one label
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(ca.bundle("web.lab"), ca.ca_file, "other.lab")


def test_rogue_and_expired_are_refused(ca, tmp_path):
    rogue = ca.rogue()
    assert rogue.ca_file == tmp_path / "rogue_ca.pem"
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate in certificate chain"):
        handshake(rogue.bundle("web.lab", filename="rogue-web.pem"), ca.ca_file, "web.lab")  # its CA rides along
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        handshake(ca.bundle("old.lab", expired=True), ca.ca_file, "old.lab")
    issued = ca.issue("old.lab", expired=True)
    assert repr(issued).startswith("<Issued old.lab by 'Lab CA' until ")


def test_crt_dir_keeps_the_order_given(ca, tmp_path):
    d = ca.crt_dir(tmp_path / "dir", "z.lab", ("a.lab", "b.lab"), "*.m.lab")
    names = sorted(p.name for p in d.iterdir())
    assert names == ["00-z.lab.pem", "01-a.lab.pem", "02-wildcard.m.lab.pem"]
    assert subject_names(handshake(d / names[1], ca.ca_file, "b.lab")) == ("a.lab", ("a.lab", "b.lab"))


def test_crt_list_lines(ca, tmp_path):
    a, b = ca.bundle("a.lab"), ca.bundle("b.lab")
    lst = ca.crt_list(tmp_path / "certs.lst", [(a, ()), (b, ("b.lab", "!x.b.lab"))])
    assert lst.read_text() == f"{a}\n{b} b.lab !x.b.lab\n"


def test_cert_and_key_for_the_app(ca, tmp_path):
    cert, key = ca.cert_and_key("app.lab", folder=tmp_path / "app")
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)  # what backends/app.py --tls does
    assert cert.read_text().count("BEGIN CERTIFICATE") == 2 and stat.S_IMODE(key.stat().st_mode) == 0o600


def test_errors(ca):
    with pytest.raises(ValueError, match="at least one name"):
        ca.issue()
    with pytest.raises(ValueError, match="unknown key type 'dsa'"):
        ca.issue("a.lab", key_type="dsa")
    assert ca.issue("rsa.lab", key_type="rsa").key.key_size == 2048
