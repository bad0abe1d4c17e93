"""Lesson 10 on a machine that refuses network namespaces (LAB_NO_NETNS=1 makes this one such a machine): every
cell runs without an error, each one that needs hosts says so in one message, and the loopback part (two
balancers behind one name, section 3) still runs and measures."""
from __future__ import annotations

import nbformat
from support.references import LESSONS, execute

LESSON = LESSONS / "10-beyond-one-machine.ipynb"


def test_lesson_10_runs_through_without_hosts(monkeypatch):
    monkeypatch.setenv("LAB_NO_NETNS", "1")  # the kernel inherits it
    monkeypatch.setenv("LAB_HEADLESS", "1")  # execute() sets it; monkeypatch puts the old value back
    run = execute(nbformat.read(LESSON, as_version=4))
    errors, outputs = [], []
    for i, cell in enumerate(run.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                errors.append(f"cell {i}: {out.ename}: {out.evalue}")
            outputs.append(out.get("text", "") if out.output_type == "stream" else "")
    assert not errors, errors
    text = "".join(outputs)
    assert "No hosts on this machine: LAB_NO_NETNS=1 is set" in text
    assert text.count("Carrying on without hosts") >= 5
    assert "DNS failover, client without retry:" in text and "DNS failover, retrying client: 0 of" in text
