"""``--plot``: cost per transaction over time (matplotlib, an optional extra: ``[plot]``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from .common import CliError


def plot(points: list[tuple], path: str) -> None:
    """``points``: (bucket start, transaction, USD), idle left out (``store.schema.series_query``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'opentelemetry-instrumentation-cost[plot]'") from None
    series: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for start, name, usd in points:
        series[name][int(start)] += usd
    fig, ax = plt.subplots(figsize=(10, 5))
    for name, usd_at in sorted(series.items()):
        xs = sorted(usd_at)
        times = [datetime.fromtimestamp(x, UTC) for x in xs]
        ax.plot(times, [usd_at[x] for x in xs], marker="o", label=name)  # type: ignore[arg-type]
    ax.set_ylabel("USD per minute (per hour once rolled up)")
    ax.set_title("Cost per transaction")
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100)
    plt.close(fig)
