"""``otel-cost report --html FILE``: one self-contained page to share (inline CSS and SVG, no script, nothing
fetched at view time): cost over time per transaction, the idle share, cost by AWS service, the most expensive
transactions, budgets and their crossings, and, with ``--bill``, the estimates against the bill."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

_COLOURS = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e")
_TOP_SERIES = 8  # the most expensive transactions get a line each; the rest are summed as "(others)"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _usd(value: float) -> str:
    return f"${value:,.6f}" if abs(value) < 1 else f"${value:,.2f}"


def _chart(points: list[tuple], top: list[str]) -> str:
    """Cost per bucket and transaction as an inline SVG line chart."""
    series: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for start, name, usd in points:
        series[name if name in top else "(others)"][int(start)] += usd
    if not series:
        return "<p>No cost over time in this window.</p>"
    xs = sorted({x for s in series.values() for x in s})
    high = max(v for s in series.values() for v in s.values()) or 1.0
    width, height, pad = 760, 260, 40
    span = (xs[-1] - xs[0]) or 1

    def at(x: int, y: float) -> str:
        return f"{pad + (x - xs[0]) / span * (width - 2 * pad):.1f},{height - pad - y / high * (height - 2 * pad):.1f}"

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="cost over time per transaction">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
             f'<text x="{pad}" y="{pad - 10}" font-size="11">{_e(_usd(high))} per bucket</text>',
             f'<text x="{pad}" y="{height - 10}" font-size="11">{_e(_time(xs[0]))}</text>',
             f'<text x="{width - pad}" y="{height - 10}" font-size="11" text-anchor="end">'
             f'{_e(_time(xs[-1]))}</text>']  # fmt: skip
    legend = []
    for n, (name, values) in enumerate(sorted(series.items())):
        colour = _COLOURS[n % len(_COLOURS)]
        path = " ".join(at(x, values.get(x, 0.0)) for x in xs)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.extend(  # the points too: a window of one bucket has no line to draw
            f'<circle cx="{at(x, v).split(",")[0]}" cy="{at(x, v).split(",")[1]}" r="3" fill="{colour}"/>'
            for x, v in sorted(values.items())
        )
        legend.append(f'<span class="key" style="border-color:{colour}">{_e(name)}</span>')
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def _time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _bars(values: dict[str, float]) -> str:
    if not values:
        return "<p>No AWS service spend in this window.</p>"
    high = max(values.values()) or 1.0
    rows = "".join(
        f'<tr><td>{_e(name)}</td><td class="num">{_e(_usd(usd))}</td><td><div class="bar" '
        f'style="width:{max(1.0, usd / high * 300):.0f}px"></div></td></tr>'
        for name, usd in sorted(values.items(), key=lambda kv: -kv[1])
    )
    return f"<table><tr><th>AWS service</th><th>estimated</th><th></th></tr>{rows}</table>"


def render(data: dict[str, Any]) -> str:
    """``data``: window, store, lines (report lines), idle_usd, total_usd, series points, by_service, budgets,
    reconcile (or None)."""
    lines, total, idle = data["lines"], data["total_usd"], data["idle_usd"]
    top = [line.group for line in lines[:_TOP_SERIES]]
    share = idle / total if total else 0.0
    rows = "".join(
        f"<tr><td>{_e(x.group)}</td><td class='num'>{x.requests}</td><td class='num'>{_e(_usd(x.total_usd))}</td>"
        f"<td class='num'>{_e(_usd(x.mean_usd))}</td><td class='num'>{_e(_usd(x.compute_usd))}</td>"
        f"<td class='num'>{_e(_usd(x.service_usd))}</td><td class='num'>{x.budget_violations}</td></tr>"
        for x in lines[:25]
    )
    budgets = (
        "".join(
            f"<tr><td>{_e(b['transaction'])}</td><td>{_e(b['kind'])}</td>"
            f"<td class='num'>{_e(_usd(b['budget_usd']))}</td>"
            f"<td class='num'>{_e(_usd(b['actual_usd']))}</td><td>{'over' if b['over'] else 'within'}</td>"
            f"<td class='num'>{b['crossings']}</td></tr>"
            for b in data["budgets"]
        )
        or "<tr><td colspan='6'>No budgets configured (OTEL_PYTHON_COST_BUDGETS or --budgets).</td></tr>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cost report: {_e(data["window"])}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ padding: 3px 10px; border-bottom: 1px solid #ddd; }}
th {{ text-align: left; }} .num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.bar {{ height: 12px; background: #4269d0; }} .legend .key {{ border-left: 12px solid; padding: 0 12px 0 6px; }}
.figure {{ font-size: 1.6em; font-weight: 600; }}
</style></head><body>
<h1>Cost report</h1>
<p>Last {_e(data["window"])} from {_e(data["store"])}, made {_e(_time(int(data["made"])))}.</p>
<p><span class="figure" id="total">{_e(_usd(total))}</span> in all, of which
<span class="figure" id="idle-share">{share:.1%}</span> idle ({_e(_usd(idle))}: the hosts' time with no request).</p>
<h2>Cost over time per transaction</h2>{_chart(data["series"], top)}
<h2>Cost by AWS service</h2>{_bars(data["by_service"])}
<h2>Most expensive transactions</h2>
<table><tr><th>transaction</th><th>requests</th><th>total</th><th>per request</th><th>compute</th><th>AWS services</th>
<th>over budget</th></tr>{rows}</table>
<h2>Budgets</h2>
<table><tr><th>transaction</th><th>kind</th><th>budget</th><th>actual</th><th></th><th>requests over</th></tr>
{budgets}</table>
{_reconcile(data.get("reconcile"))}
</body></html>
"""


def _reconcile(r: dict[str, Any] | None) -> str:
    if r is None:
        return "<h2>Estimate against the bill</h2><p>No bill given (<code>--bill PATH</code>).</p>"
    cov = "-" if r["coverage"] is None else f"{r['coverage']:.1%}"
    rows = "".join(
        f"<tr><td>{_e(u['service'])}</td><td>{_e(u['unit'])}</td><td class='num'>{u['billed_quantity']:.6g}</td>"
        f"<td class='num'>{u['estimated_quantity']:.6g}</td><td class='num'>{_pct(u['quantity_error'])}</td>"
        f"<td class='num'>{_pct(u['price_drift'])}</td><td class='num'>{_rate(u['realised_rate'])}</td></tr>"
        for u in r["units"]
    )
    return (f"<h2>Estimate against the bill</h2><p>Coverage: <span class='figure' id='coverage'>{_e(cov)}</span> of "
            f"the bill's usage cost is on lines the estimates explain.</p><table><tr><th>service</th><th>unit</th>"
            f"<th>billed</th><th>estimated</th><th>quantity error</th><th>price drift</th><th>realised rate</th></tr>"
            f"{rows}</table>")  # fmt: skip


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
