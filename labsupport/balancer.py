"""``python -m labsupport.balancer -f FILE`` (and ``-c``): the engine's command line, like ``haproxy``.

The engine lives in ``labsupport.engine``; this module only keeps the short command name.
"""
from .engine.balancer import Balancer, main

__all__ = ["Balancer", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
