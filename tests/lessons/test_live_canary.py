"""Lesson 09's canary: weights that give a share, the measured share per version beside the intended one,
and the rollback in one call. Real servers on 8301-8304, the engine on haproxy/live.cfg."""
from __future__ import annotations

import pytest
from support.live_lab import PORTS, all_up, live_lab

from labsupport.errors import UsageError
from labsupport.lessons.live.canary import canary_weights, measure_shares, rollback, set_canary, shares_figure
from labsupport.lessons.live.servers import servers


@pytest.mark.parametrize("percent, others, weights", [
    (10, 3, (1, 3)), (25, 3, (1, 1)), (50, 3, (3, 1)), (0, 3, (0, 1)), (100, 3, (1, 0)), (5, 1, (1, 19)),
    (33.3, 2, (1, 1)),
])
def test_canary_weights_give_the_share(percent, others, weights):
    c, w = canary_weights(percent, others)
    assert (c, w) == weights
    assert c <= 256 and w <= 256
    if c + others * w:
        assert abs(100 * c / (c + others * w) - percent) < 0.5


def test_too_fine_a_share_gets_the_nearest_weights_that_fit():
    c, w = canary_weights(0.1, 3)
    assert max(c, w) <= 256 and abs(100 * c / (c + 3 * w) - 0.1) < 0.2
    with pytest.raises(UsageError):
        canary_weights(120, 3)


def test_a_ten_percent_canary_measured_then_rolled_back():
    with live_lab() as (lb, fleet):
        c = set_canary(lb, "app", "s4", 10, fleet=fleet, version=2)
        assert c.weights == {"s1": 3, "s2": 3, "s3": 3, "s4": 1} and round(c.intended) == 10
        assert fleet.version(8304) == "2"
        all_up(lb)
        t = measure_shares(lb.urls[0], 1000, lb, "app", fleet)
        rows = {r["version"]: r for r in t}
        assert set(rows) == {"1", "2"}
        assert rows["2"]["intended %"] == 10.0 and rows["1"]["intended %"] == 90.0
        assert abs(rows["2"]["measured %"] - 10) <= 2, t  # smooth weighted round robin: 1 in 10
        assert rows["1"]["errors"] == rows["2"]["errors"] == 0
        assert rows["1"]["requests"] + rows["2"]["requests"] == 1000
        fig = shares_figure(t)
        assert [tk.get_text() for tk in fig.axes[0].get_xticklabels()] == ["version 1", "version 2"]
        after = rollback(lb, "app", "s4", fleet=fleet, version=1)
        assert after.column("weight") == [1, 1, 1, 1]
        assert [fleet.version(p) for p in PORTS] == ["1"] * 4
        assert all(r.weight == 1 for r in servers(lb, "app").values())
        t = measure_shares(lb.urls[0], 100)
        assert t.column("version") == ["1"] and t.column("intended %") == [""]


def test_errors_per_version():
    with live_lab() as (lb, fleet):
        fleet.restart(8302, version=2)
        fleet.set_fail_rate(8302, 1.0)
        all_up(lb)
        t = measure_shares(lb.urls[0], 200, lb, "app", fleet)
        rows = {r["version"]: r for r in t}
        assert rows["2"]["error rate %"] == 100.0 and rows["1"]["errors"] == 0
        assert rows["2"]["intended %"] == 25.0
        with pytest.raises(UsageError, match="no server 's9'"):
            set_canary(lb, "app", "s9", 10)
