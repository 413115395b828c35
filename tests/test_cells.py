"""The ledger's C hot path (``attribution/_cells.c``): the same layout as the Python code, taken for in-order priced
events, never touching the region while another holds it, and checkpoints that outlive 2**51 ns of host session."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost.attribution import late, region
from opentelemetry_instrumentation_cost.attribution.hostfile import open_region
from opentelemetry_instrumentation_cost.attribution.ledger import ComputeLedger, Token
from opentelemetry_instrumentation_cost.attribution.region import PrivateRegion, SharedRegion

S = 1_000_000_000
RATE = 3.6  # USD per hour = 0.001 USD per second
DAY = 86_400 * S


def test_the_c_path_uses_the_python_layout() -> None:
    assert region._cells is not None, "the C hot path was not built"
    for name, value in region._cells.CELLS.items():
        source = late if name == "N_BITS" else region
        assert getattr(source, name) == value, name


@pytest.mark.parametrize("shared", [False, True])
def test_in_order_priced_events_take_the_c_path(tmp_path: Path, shared: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    led = ComputeLedger(0, open_region(tmp_path) if shared else PrivateRegion(), "p")
    assert led.native
    led.set_rate(RATE, 0)

    def python_path(*_: object) -> None:
        raise AssertionError("took the Python path")

    monkeypatch.setattr(led, "open_locked", python_path)
    monkeypatch.setattr(led, "close_locked", python_path)
    a = led.open(1 * S, Token(1, 1))
    b = led.open(2 * S, Token(1, 2))  # the same trace: b is innermost, a its outer root
    assert led.roots[1] is b and b.prev is a
    assert led.close(a, 3 * S) == pytest.approx(0.0015)  # alone 1-2 s, half of 2-3 s
    assert led.roots[1] is b and b.prev is None
    assert led.close(b, 4 * S) == pytest.approx(0.0015)
    assert 1 not in led.roots
    totals = led.totals(4 * S)
    assert totals.attributed_usd == pytest.approx(0.003) and totals.idle_usd == pytest.approx(0.001)


@pytest.mark.parametrize("shared", [False, True])
def test_the_c_path_never_touches_a_region_that_python_holds(tmp_path: Path, shared: bool) -> None:
    """A thread of this process holds the region (a cold path, preempted): a root opened meanwhile on another
    thread does not change a cell until it is given back, then opens on the Python path."""
    reg: region.Region = open_region(tmp_path) if shared else PrivateRegion()
    assert isinstance(reg, SharedRegion) == shared
    led = ComputeLedger(time.time_ns(), reg, "p")
    led.set_rate(RATE, time.time_ns())
    token = Token(7, 7)
    reg.acquire()
    before = bytes(reg.q.obj)
    opener = threading.Thread(target=led.open, args=(time.time_ns(), token))
    opener.start()
    opener.join(0.4)
    assert opener.is_alive() and bytes(reg.q.obj) == before and not hasattr(token, "acc")
    reg.release()
    opener.join(5)
    assert not opener.is_alive() and led.roots[7] is token and led.totals(time.time_ns()).in_flight == 1


def test_a_host_session_longer_than_the_checkpoints_clock_keeps_late_events_exact() -> None:
    """Checkpoints keep the time since the session began modulo 2**51 ns (26 days): a late open 30 days into a
    session gets what it gets one second into one (before, the 30th day's checkpoint overflowed its cell)."""

    def late_open(created: int, t: int) -> tuple[float | None, float | None]:
        led = ComputeLedger(created)
        led.set_rate(RATE, created)
        a = led.open(t + 1 * S, Token(1, 1))
        cost_a = led.close(a, t + 3 * S)
        b = led.open(t + 2 * S, Token(2, 1))  # late: its start is before A's close
        return cost_a, led.close(b, t + 4 * S)

    month = late_open(0, 30 * DAY)
    fresh = late_open(30 * DAY - 1 * S, 30 * DAY)
    assert month == pytest.approx(fresh) and month[1] == pytest.approx(0.0015)


def test_the_c_token_is_the_python_token() -> None:
    """``_cells.Token`` (made per root) has ``ledger.Token``'s slots, defaults and unset attributes."""
    from opentelemetry_instrumentation_cost.attribution.ledger import Token as PyToken
    from opentelemetry_instrumentation_cost.attribution.roots import NativeRootToken, RootToken

    assert region._cells is not None
    c, py = NativeRootToken(3, 4), RootToken(3, 4)
    names = set(PyToken.__slots__) | {"tracker"}
    assert {n for n in dir(c) if not n.startswith("_")} - {"live_span"} == names
    for name in sorted(names):
        assert hasattr(c, name) == hasattr(py, name), name
        if hasattr(py, name):
            assert getattr(c, name) == getattr(py, name) and type(getattr(c, name)) is type(getattr(py, name)), name
    assert c.live_span() is None
