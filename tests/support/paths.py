"""Where things are: the repository root, and the lesson configs in haproxy/ the tests check."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LESSON_CONFIGS = sorted((ROOT / "haproxy").glob("*.cfg"))


def lesson_certificates(run: Path):
    """The lab CA and certificates lesson 07 makes (``haproxy/edge-tls.cfg`` reads ``${LAB_RUN}/certs/edge``),
    made in ``run`` as the lesson makes them; set LAB_RUN to ``run`` to use that file. Returns the CA."""
    from labsupport.course.certs import LabCA

    ca = LabCA(run / "certs")
    ca.crt_dir(run / "certs" / "edge", ("www.lab", "static.lab"), ("api.lab",), ("shop.lab",))
    return ca
