"""Lesson 06's config (``lab_config``) is valid for the engine without a warning and for real HAProxy 2.6."""
from __future__ import annotations

import pytest

from labsupport.course.haproxy import HAProxy
from labsupport.engine.config import parse
from labsupport.lessons.load.experiments import lab_config


@pytest.mark.parametrize("kw", [{}, {"balance": "random(2)", "maxconn": 1},
                                {"balance": "uri whole", "hash_type": "consistent", "balance_factor": 150}])
def test_lesson_config_is_valid_on_both(kw, haproxy_bin):
    text = lab_config([8060, 8061], port=3006, **kw)
    cfg = parse(text, "lesson.cfg")
    assert not cfg.warnings, cfg.warnings
    HAProxy.from_text(text, "lesson.cfg", binary=haproxy_bin).check()  # raises ConfigError when refused
