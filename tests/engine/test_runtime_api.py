"""The runtime API (``stats socket``) of the engine alone: odd input gets an answer, never a traceback (its
answers next to real HAProxy 2.6's are compared in tests/differential/test_runtime_api.py)."""
from __future__ import annotations

import pytest
from support.runtime_api import CONFIG

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports

ODD_NUMBERS = ["5²", "²", "①%", "５", "-²", "9" * 30, "", "%", "-", "1e3", "0x10", " 7"]


@pytest.mark.parametrize("template", ["set server be/s1 weight {}", "set maxconn server be/s1 {}",
                                      "show stat -1 {} -1", "set server be/s1 state {}"])
def test_odd_numbers_get_an_answer_never_a_traceback(tmp_path, template):
    """Characters such as '²' pass str.isdigit() but int() refuses them: every command still answers."""
    port, s1, s2 = free_ports(3)
    cfg = tmp_path / "odd.cfg"
    cfg.write_text(CONFIG.format(dir=tmp_path, port=port, s1=s1, s2=s2))
    lb = Balancer.from_file(str(cfg)).start()
    try:
        for value in ODD_NUMBERS:
            answer = lb.command(template.format(value))
            assert isinstance(answer, str) and "Traceback" not in answer, (value, answer)
        assert "# pxname" in lb.command("show stat")  # still serving commands
    finally:
        lb.stop()
