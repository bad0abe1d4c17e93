"""The lesson's haproxy.cfg files (haproxy/*.cfg) are valid for real HAProxy 2.6 as they stand, run from
the lessons' folder as the notebooks run them (lesson 07's map files live there)."""
from __future__ import annotations

import os
import subprocess

import pytest
from support.paths import LESSON_CONFIGS, ROOT, lesson_certificates


@pytest.mark.parametrize("path", LESSON_CONFIGS, ids=lambda p: p.name)
def test_real_haproxy_accepts_it(path, haproxy_bin, tmp_path):
    lesson_certificates(tmp_path)  # lesson 07's, in the LAB_RUN this haproxy gets
    r = subprocess.run([haproxy_bin, "-c", "-f", str(path)], capture_output=True, text=True, timeout=20,
                       cwd=ROOT / "notebooks", env={**os.environ, "LAB_RUN": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "Configuration file is valid" in r.stdout
    assert "WARNING" not in r.stderr and "ALERT" not in r.stderr, r.stderr
