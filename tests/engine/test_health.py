"""The health state machine, against HAProxy 2.6's observed sequences (tests/vectors/health-and-errors.md
section 6, tests/vectors/runtime-api.md section 9)."""
from __future__ import annotations

import pytest

from labsupport.engine.health import Health, first_check_delays
from labsupport.errors import CommandError, UsageError


def test_observed_sequence_inter_1s():
    """inter 1s, rise 2, fall 3: UP -> kill -> UP 2/3 -> UP 1/3 -> DOWN; restart -> DOWN 1/2 -> UP."""
    h = Health(rise=2, fall=3, check=True)
    assert h.check_passed() is None  # the first pass makes 'UP 1/3' fully UP
    seen = [h.status]
    results = []
    for _ in range(3):  # the server is killed
        results.append(h.check_failed())
        seen.append(h.status)
    for _ in range(2):  # and restarted
        results.append(h.check_passed())
        seen.append(h.status)
    assert seen == ["UP", "UP 2/3", "UP 1/3", "DOWN", "DOWN 1/2", "UP"]
    assert results == [None, None, "DOWN", None, "UP"]
    assert (h.chkfail, h.chkdown) == (3, 1)


def test_start_is_up_but_one_failure_from_down():
    h = Health(rise=2, fall=3, check=True)
    assert (h.status, h.health, h.usable) == ("UP 1/3", 2, True)
    assert h.check_failed() == "DOWN"
    assert (h.status, h.health, h.usable, h.chkfail, h.chkdown) == ("DOWN", 0, False, 1, 1)


def test_failures_while_down_are_not_counted():
    # observed: a dead server stays at chkfail 1 however long it stays DOWN
    h = Health(check=True)
    h.check_failed()
    for _ in range(5):
        assert h.check_failed() is None
    assert (h.chkfail, h.chkdown, h.status) == (1, 1, "DOWN")
    assert h.check_passed() is None and h.status == "DOWN 1/2"
    assert h.check_failed() is None and h.status == "DOWN" and h.chkfail == 2  # health was 1 > 0


@pytest.mark.parametrize(
    "rise,fall,events,statuses",
    [
        (3, 2, "ffppp", ["UP 1/2", "DOWN", "DOWN", "DOWN 1/3", "DOWN 2/3", "UP"]),
        (1, 1, "pfp", ["UP", "UP", "DOWN", "UP"]),
        (2, 5, "pffffpf", ["UP 1/5", "UP", "UP 4/5", "UP 3/5", "UP 2/5", "UP 1/5", "UP", "UP 4/5"]),
    ],
)
def test_counter_table(rise, fall, events, statuses):
    h = Health(rise=rise, fall=fall, check=True)
    seen = [h.status]
    for e in events:
        h.check_passed() if e == "p" else h.check_failed()
        seen.append(h.status)
    assert seen == statuses
    assert 0 <= h.health <= rise + fall - 1


def test_no_check():
    h = Health(check=False)
    assert (h.status, h.usable) == ("no check", True)
    assert h.set_admin("drain") is None and (h.status, h.usable) == ("DRAIN", False)
    assert h.set_admin("ready") is None and h.status == "no check"
    assert h.force("down") == "DOWN" and (h.status, h.usable) == ("DOWN", False)  # observed: stays DOWN
    assert h.force("up") == "UP" and h.status == "no check"


def test_disabled_starts_in_maint_and_ready_returns_up_1_3():
    h = Health(rise=2, fall=3, check=True, disabled=True)
    assert (h.status, h.usable, h.checks_paused) == ("MAINT", False, True)
    assert h.check_passed() is None and h.status == "MAINT"  # checks are paused
    assert h.set_admin("ready") == "UP"
    assert (h.status, h.usable, h.chkdown) == ("UP 1/3", True, 0)
    unchecked = Health(disabled=True)
    assert unchecked.set_admin("ready") == "UP" and unchecked.status == "no check"


def test_maint_drain_ready_as_observed():
    h = Health(rise=2, fall=3, check=True)
    h.check_passed()
    assert h.set_admin("maint") == "DOWN"
    assert (h.status, h.chkdown, h.usable) == ("MAINT", 1, False)  # observed: chkdown 1
    assert h.set_admin("drain") == "UP"
    assert (h.status, h.usable) == ("DRAIN 1/3", False)  # observed right after the command
    h.check_passed()
    assert h.status == "DRAIN"
    assert h.set_admin("ready") is None and (h.status, h.usable) == ("UP", True)
    assert h.set_admin("ready") is None  # repeating is harmless
    h.check_failed()
    assert h.set_admin("drain") is None and h.status == "DRAIN 2/3"


def test_maint_of_a_down_server_is_not_another_down():
    h = Health(check=True)
    h.check_failed()
    assert h.set_admin("maint") is None and h.chkdown == 1
    assert h.set_admin("ready") == "UP" and h.status == "UP 1/3"  # restarts at rise, checked at once


def test_force():
    h = Health(rise=2, fall=3, check=True)
    h.check_failed()
    assert h.force("up") == "UP" and (h.status, h.health) == ("UP", 4)
    assert h.force("down") == "DOWN" and (h.status, h.health, h.chkdown) == ("DOWN", 0, 2)
    assert h.force("stopping") == "NOLB" and (h.status, h.usable) == ("NOLB", False)
    assert h.check_passed() == "UP"
    with pytest.raises(CommandError) as err:
        h.force("sideways")
    assert str(err.value) == "'set server <srv> health' expects 'up', 'stopping', or 'down'."
    with pytest.raises(ValueError) as err:
        h.set_admin("off")
    assert str(err.value) == "'set server <srv> state' expects 'ready', 'drain' and 'maint'."


def test_nolb_pass():
    h = Health(rise=2, fall=3, check=True)
    assert h.check_passed(nolb=True) == "NOLB" and h.status == "NOLB" and not h.usable
    h.check_failed()
    assert h.status == "NOLB 2/3"
    assert h.check_passed() == "UP" and h.status == "UP"


def test_next_interval():
    h = Health(rise=2, fall=3, check=True)
    assert h.next_interval(2000, 500, 10000) == 500  # health = rise, not full: fastinter
    assert h.next_interval(2000) == 2000  # fastinter defaults to inter
    h.check_passed()
    assert h.next_interval(2000, 500, 10000) == 2000  # full health: inter
    h.check_failed()
    assert h.next_interval(2000, 500, 10000) == 500
    h.check_failed(), h.check_failed()
    assert h.status == "DOWN" and h.next_interval(2000, 500, 10000) == 10000  # DOWN at 0: downinter
    assert h.next_interval(2000, 500) == 2000  # downinter defaults to inter
    h.check_passed()
    assert h.next_interval(2000, 500, 10000) == 500


@pytest.mark.parametrize(
    "intervals,delays",
    [
        ([2000, 2000, 2000, 2000], [0, 500, 1000, 1500]),
        ([1000, 3000], [0, 1500]),  # m = max(own 3000, smallest >= 1000 = 1000)
        ([100, 2000, 5000], [0, 666, 3333]),  # 100 ms is below the threshold: spread by 2000
        ([100, 200], [0, 100]),  # nothing >= 1000: each uses its own interval
        ([], []),
    ],
)
def test_first_check_delays(intervals, delays):
    assert first_check_delays(intervals) == delays


def test_repr_and_validation():
    assert repr(Health(check=True)) == (
        "<Health UP 1/3 health=2/4 rise=2 fall=3 admin=ready chkfail=0 chkdown=0>"
    )
    with pytest.raises(UsageError, match="rise and fall must be at least 1"):
        Health(rise=0)
