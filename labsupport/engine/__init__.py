"""The engine: HAProxy 2.6's behaviour, re-implemented in Python, and nothing of the course.

    config/     haproxy.cfg text -> frozen dataclasses, messages in HAProxy's words (``haproxy -c``)
    balance/    the algorithms as plain objects: pick / release, no sockets (one module per lb_*.c)
    hashing     hash functions and the consistent-hash ring
    health      a server's health state machine (rise/fall/maint/drain), no timers
    stats       counters -> HAProxy's CSV / HTML
    proxy/      the asyncio parts: listeners and forwarding, checks, the stats page, runtime controls
    balancer/   ``Balancer`` (its own thread and event loop) and the command line

It imports nothing from the course side (``labsupport.course``, ``labsupport.lessons``); only
``labsupport.errors``, ``labsupport.ports`` and ``labsupport.lifecycle`` (where a running Balancer
registers), which sit below both halves. ``tests/test_layout.py`` checks that.
"""
