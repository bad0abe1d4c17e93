"""Traffic to a balancer: ``results`` (what came back, and the course's one percentile), ``sender``
(a batch of requests) and ``generator`` (a steady rate, in the background)."""
