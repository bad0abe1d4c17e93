"""python -m labsupport.balancer -f haproxy/myhaproxy.cfg [-c] [-q]: the engine in the foreground, like haproxy."""
import sys

from . import main

sys.exit(main())
