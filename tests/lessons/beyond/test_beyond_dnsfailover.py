"""Lesson 10's fallback without namespaces or keepalived (labsupport/lessons/beyond/dnsfailover.py): two
balancers on 127.0.0.2 and 127.0.0.3 behind one name from the lab's DNS server; one stops under load. A client
that retries across the answers loses nothing; one that does not loses every request after the stop.

Loopback only: it runs everywhere (the balancers are real HAProxy when installed, else the course engine)."""
from __future__ import annotations

import pytest
from support.beyond_lab import expected_kind

from labsupport.errors import UsageError
from labsupport.lessons.beyond.dnsfailover import ADDRESSES, measure_dns_failover
from labsupport.lessons.beyond.failover import failover_figure


def test_a_retrying_client_moves_to_the_second_address_without_a_failure():
    result = measure_dns_failover(retry=True, seconds=2.5)
    assert result.settings["kind"] == (expected_kind() or result.settings["kind"])
    assert result.failed == 0 and result.gap() == 0.0, result.summary()
    assert result.first_holder == ADDRESSES[0] and result.last_holder == ADDRESSES[1], result.holders
    assert result.retried() > 0  # every request after the stop tried 127.0.0.2 first, then 127.0.0.3
    assert all(s.error.startswith("retried after 127.0.0.2") for s in result.shots
               if s.t > result.stopped_at + 0.1)
    assert "retrying client: 0 of" in repr(result)
    assert len(failover_figure(result).axes) == 2


def test_a_client_without_retry_fails_until_the_end():
    result = measure_dns_failover(retry=False, seconds=2.5)
    after = [s for s in result.shots if s.t > result.stopped_at + 0.1]
    assert after and not any(s.ok for s in after), result.summary()
    assert result.failed >= len(after) and result.gap() > 0.5
    assert result.retried() == 0 and result.last_holder is None
    assert "client without retry" in repr(result)


def test_bad_arguments_are_refused_plainly():
    with pytest.raises(UsageError, match="rate=0: requests per second"):
        measure_dns_failover(rate=0)
    with pytest.raises(UsageError, match="0 < stop_after < seconds <= 60"):
        measure_dns_failover(stop_after=5, seconds=3)
    with pytest.raises(UsageError, match="balancer='nginx'"):
        measure_dns_failover(balancer="nginx")
