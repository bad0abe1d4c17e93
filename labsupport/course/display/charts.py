"""What every chart of the course shares: the colours of server states and of servers, one way from a
stats status to its state, and PNG rendering without pyplot.

A server's state comes from HAProxy's own status strings ("UP 1/3", "DOWN", "MAINT (via be/s1)",
"no check"), read by the engine's ``server_state`` (one mapping for the stats page, Prometheus and
every chart). The chart colours here are saturated versions for lines and bars; the stats page's
own pastel CSS colours are ``STATS_PAGE_COLORS`` (by the row's CSS class, ``state_class``), the engine's
copy of HAProxy's ``src/stats.c``.
"""
from __future__ import annotations

import io

from matplotlib.figure import Figure

from ...engine.stats import STATS_PAGE_COLORS, server_state, state_class

__all__ = ["FAILURE_COLOR", "NO_ANSWER_COLOR", "PALETTE", "STATE_COLORS", "STATS_PAGE_COLORS", "figure_to_png",
           "show_figures_inline", "state_color", "state_of", "state_class"]

# Server state -> colour in charts.
STATE_COLORS = {
    "UP": "#2e9d43",  # green: takes traffic
    "DOWN": "#d64541",  # red: failed its health checks
    "MAINT": "#9a9a9a",  # grey: taken out by an operator
    "DRAIN": "#f08c00",  # orange: finishing its connections, no new ones
    "NOLB": "#f08c00",
    "OTHER": "#5b7db1",  # no status yet (a chart's first points)
}
# Fixed colours for servers in the sequence strip (tab10-like), and for answers from nobody.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
FAILURE_COLOR = "#d64541"  # HTTP 5xx
NO_ANSWER_COLOR = "#3a3a3a"  # connection refused, timed out...


def state_of(status: str | None) -> str:
    """``'UP 1/3'`` -> ``'UP'``, ``'no check'`` -> ``'UP'``, ``'MAINT (via be/s1)'`` -> ``'MAINT'``;
    no status at all -> ``'OTHER'``."""
    return server_state(status) if status else "OTHER"


def state_color(status: str | None) -> str:
    return STATE_COLORS[state_of(status)]


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render with Agg into PNG bytes (for ``ipywidgets.Image(value=...)``); works without a display."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show_figures_inline() -> None:
    """In IPython, display a bare ``Figure`` (the object API, no pyplot) as its PNG picture.

    Without pyplot, nothing registers a picture for Figure objects, and a notebook would print
    ``<Figure size 700x135 with 1 Axes>`` instead of the chart.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, figure_to_png)


show_figures_inline()
