"""Frames per second the live dashboard achieves: 4 app servers, the bundled balancer, steady traffic.

    .venv/bin/python benchmarks/dashboard.py [seconds per rate]

A frame = snapshot -> model -> matplotlib Figure -> PNG -> ipywidgets.Image (no browser attached:
the widget's bytes are produced but not sent anywhere, so a real notebook is at most this fast).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from labsupport.balancer import Balancer  # noqa: E402
from labsupport.course.fleet import Fleet  # noqa: E402
from labsupport.lessons.balancing.dashboard import Dashboard  # noqa: E402


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    with Fleet() as fleet:
        ports = fleet.start(count=4)
        servers = "".join(f"    server server0{i} 127.0.0.1:{p}\n" for i, p in enumerate(ports, 1))
        text = ("defaults\n    mode http\n    timeout connect 10s\n    timeout client 50s\n    timeout server 50s\n"
                "frontend http-in\n    bind 127.0.0.1:3990\n    default_backend application_nodes\n"
                f"backend application_nodes\n    balance roundrobin\n{servers}")
        with Balancer.from_text(text) as lb:
            for rate in (0, 20, 100):
                dash = Dashboard(lb, rate=max(rate, 1), max_seconds=seconds + 5)
                if rate:
                    dash.start_traffic(rate)
                renders = []
                t0, f0 = time.monotonic(), dash.frames
                while time.monotonic() - t0 < seconds:  # bounded by `seconds`
                    if not rate:  # no traffic: time forced redraws (the chart skips unchanged frames)
                        s = time.perf_counter()
                        dash.chart.value = b""
                        dash._last_bars = None
                        dash.refresh()
                        renders.append(time.perf_counter() - s)
                    else:
                        time.sleep(0.2)
                fps = (dash.frames - f0) / (time.monotonic() - t0)
                dash.close()
                extra = f", one frame {statistics.median(renders) * 1000:.0f} ms (median)" if renders else ""
                print(f"traffic {rate:3d} req/s: {fps:.1f} frames/s{extra}")


if __name__ == "__main__":
    main()
