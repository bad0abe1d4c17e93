"""Lesson 10: beyond one machine (hosts, distance, a balancer pair sharing an address, regions).

``probe`` sends a bounded stream of requests from a host of the lab and records every one (which address
answered, how long it took, what failed), so an outage has a length in seconds and a count of failed
requests; ``probeclient.py`` is the script that runs inside the host.
"""
