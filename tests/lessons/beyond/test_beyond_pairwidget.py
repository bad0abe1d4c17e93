"""Lesson 10's balancer pair panel (labsupport/lessons/beyond/pairwidget.py): headless it prints what it shows;
its button moves the address; its HTML carries the stable classes the browser tests look for."""
from __future__ import annotations

import time

import pytest
from support.beyond_lab import require_keepalived, site

from labsupport import lifecycle
from labsupport.course import environment
from labsupport.course.hosts import Lab
from labsupport.errors import UsageError
from labsupport.lessons.beyond.pair import BalancerPair
from labsupport.lessons.beyond.pairwidget import PairWidget


@pytest.fixture(scope="module")
def pair():
    require_keepalived()
    lab = Lab()
    try:
        client, servers = site(lab)
        made = BalancerPair(lab, servers, advert_int=0.5)
        made.wait_for_holder("lb1", 30)
        yield made, client
    finally:
        lab.stop()


def _until(what, test, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_headless_it_prints_a_summary_and_the_button_moves_the_address(pair, monkeypatch, capsys):
    the_pair, client = pair
    monkeypatch.setattr(environment, "HEADLESS", True)
    panel = PairWidget(the_pair, client, rate=20, refresh=0.2, max_seconds=20)
    try:
        assert panel in lifecycle.running("live")
        _until("requests answered", lambda: panel.probe.ok >= 5)
        panel.tick()
        assert panel.holder() == "lb1"
        html = panel.widget.children[1].value
        assert html.count('class="lab-pair-balancer"') == 2 and 'data-host="lb1" data-holder="yes"' in html
        assert 'data-holder="lb1"' in panel.holder_line.value
        assert 'class="lab-pair-shot" data-ok="yes"' in panel.timeline.value
        panel._ipython_display_()
        out = capsys.readouterr().out
        assert "10.0.0.100 is on lb1" in out and "requests:" in out and "last action: no balancer stopped yet" in out
        panel.stop_button.click()  # acts in a thread: the panel keeps drawing
        _until("lb2 holding the address", lambda: (panel.tick(), panel.holder() == "lb2")[1])
        assert "killed" in panel.action and "on lb1" in panel.action
        assert 'data-host="lb1" data-holder="no" data-balancer="down"' in panel.body.value
        panel.restore_button.click()
        # the button's thread says "restoring ..." until the address has settled, then what it did
        _until("lb1 back, and the restore done", lambda: (panel.tick(), panel.holder() == "lb1"
                                                          and panel.action.startswith("started"))[1])
        assert "lb2" in repr(panel) and panel.frames > 2
    finally:
        panel.close()
    assert not panel.probe.running and panel not in lifecycle.running("live")


def test_bad_arguments_are_refused(pair):
    the_pair, client = pair
    with pytest.raises(UsageError, match="pair: a BalancerPair"):
        PairWidget("pair", client)
    with pytest.raises(UsageError, match="rate=0"):
        PairWidget(the_pair, client, rate=0)
    with pytest.raises(UsageError, match="how='fire'"):
        PairWidget(the_pair, client, how="fire")
