"""``--plot``: cost per transaction over time (matplotlib, an optional extra: ``[plot]``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from ..store.schema import COLUMNS
from ..transactions.names import IDLE
from .common import CliError

_I = {c: i for i, c in enumerate(COLUMNS)}


def plot(rows: list[tuple], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'opentelemetry-instrumentation-cost[plot]'") from None
    series: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if r[_I["transaction_name"]] != IDLE:
            series[r[_I["transaction_name"]]][r[_I["bucket_start"]]] += r[_I["sum_usd"]]
    fig, ax = plt.subplots(figsize=(10, 5))
    for name, points in sorted(series.items()):
        xs = sorted(points)
        times = [datetime.fromtimestamp(x, UTC) for x in xs]
        ax.plot(times, [points[x] for x in xs], marker="o", label=name)  # type: ignore[arg-type]
    ax.set_ylabel("USD per minute")
    ax.set_title("Cost per transaction")
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100)
    plt.close(fig)
