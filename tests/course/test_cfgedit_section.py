"""cfgedit.section: one section of a configuration as written, found as haproxy finds sections."""
from __future__ import annotations

import pytest

from labsupport.course.cfgedit import section
from labsupport.errors import UsageError

TEXT = """# frontend edge in a comment is not a section
global
    log stdout format raw local0

frontend edge   # the one
    bind :8000
    default_backend web   # and its comment


backend web
    server s1 127.0.0.1:8101
"""


def test_the_section_keeps_its_lines_and_comments_without_trailing_blanks():
    assert section(TEXT, "frontend", "edge") == ("frontend edge   # the one\n    bind :8000\n"
                                                 "    default_backend web   # and its comment")
    assert section(TEXT, "global") == "global\n    log stdout format raw local0"


def test_a_missing_section_is_one_line():
    with pytest.raises(UsageError, match="no 'backend api' section in this configuration"):
        section(TEXT, "backend", "api")
