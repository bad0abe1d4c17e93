"""Lesson 10: beyond one machine (hosts, distance, a balancer pair sharing an address, regions).

``probe`` sends a bounded stream of requests from a host of the lab and records every one (which address
answered, how long it took, what failed), so an outage has a length in seconds and a count of failed
requests; ``probeclient.py`` is the script that runs inside the host.

``labsite`` makes the lesson's standard hosts (a client and web servers on port 80 of their own addresses);
``topology`` draws the lab as the kernel reports it; ``distance`` makes a server far (netem where the kernel
has it, else a delaying relay) and measures what that costs, behind a balancer too; ``balancerhost`` runs real
HAProxy (or the course's engine) in a host.

Two balancers, one address: ``pair`` runs HAProxy (or the engine) and keepalived in hosts lb1 and lb2;
``failover`` measures what losing the active one costs and draws it; ``pairwidget`` is the live panel with
its "stop the active balancer" button; ``exercises`` checks the student's keepalived settings. Without
namespaces or keepalived, ``dnsfailover`` shows the same loss with two addresses behind one DNS name.
"""
