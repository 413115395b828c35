"""Bad input never crashes the package, never grows memory without bound, and keeps costs conserved."""

from __future__ import annotations

import gc
import logging
import os
import threading
from pathlib import Path
from time import time_ns

import pytest

from tests.inprocess import instrumented, memory_provider, offline_settings

SETTINGS = offline_settings(store_url="none", max_transactions=100)


def _conserved(inst) -> None:  # type: ignore[no-untyped-def]
    totals = inst.runtime.ledger.totals(time_ns())
    assert totals.attributed_usd + totals.idle_usd == pytest.approx(totals.host_usd, rel=1e-9) or totals.in_flight


def test_huge_names_many_routes_deep_trees() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(SETTINGS, tracer_provider=provider) as inst:
        with tracer.start_as_current_span("x" * 1_000_000, attributes={"big": "y" * 1_000_000}):
            pass
        for n in range(3000):  # thousands of distinct route names
            with tracer.start_as_current_span(f"GET /item/{n}"):
                pass
        exporter.clear()
        spans = [tracer.start_span("deep-root")]
        for depth in range(500):
            spans.append(
                tracer.start_span(
                    f"level-{depth}", context=__import__("opentelemetry.trace").trace.set_span_in_context(spans[-1])
                )
            )
        for span in reversed(spans):
            span.end()
        assert len(inst.runtime.names) == 100  # capped
        inst.runtime.aggregator.fold()
        assert len({k[2] for k in inst.runtime.aggregator._rows}) <= 101
        _conserved(inst)
    finished = exporter.get_finished_spans()
    assert len(finished) == 501
    assert {s.attributes["cost.transaction"] for s in finished} == {"<other>"}


def test_ended_twice_never_and_on_another_thread(caplog: pytest.LogCaptureFixture) -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(SETTINGS, tracer_provider=provider) as inst:
        twice = tracer.start_span("twice")
        twice.end()
        twice.end()
        never = tracer.start_span("never")  # never ended: stays in flight, nothing breaks
        elsewhere = tracer.start_span("elsewhere")
        t = threading.Thread(target=elsewhere.end)
        t.start()
        t.join()
        totals = inst.runtime.ledger.totals(time_ns())
        assert totals.in_flight == 1
        del never  # dropped: collected, then its share is closed at the next flush
        gc.collect()
        inst.runtime.flush()
        assert inst.runtime.ledger.totals(time_ns()).in_flight == 0
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["twice", "elsewhere"]
    assert all(s.attributes["cost.usd"] >= 0 for s in exporter.get_finished_spans())
    assert not [
        r
        for r in caplog.records
        if r.name.startswith("opentelemetry_instrumentation_cost") and r.levelno >= logging.ERROR
    ]


def test_roots_dropped_without_end_are_freed_and_reported_as_unended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A root the app drops without ``end()`` is not kept alive by the package, and its compute share leaves the
    ledger (else every later request's share would be divided among ghosts): it is stored as ``<unended>``."""
    import weakref

    from opentelemetry_instrumentation_cost.store.open import open_store

    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    url = f"sqlite:///{tmp_path}/c.db"
    with instrumented(offline_settings(store_url=url), tracer_provider=provider) as inst:
        runtime = inst.runtime
        assert runtime is not None
        dropped = []
        for _ in range(1000):
            span = tracer.start_span("GET /leaky", attributes={"payload": "x" * 1000})
            dropped.append(weakref.ref(span))
            del span
        gc.collect()  # a span and its ``end`` refer to each other: the cycle collector frees them
        assert [ref for ref in dropped if ref() is not None] == []
        with tracer.start_as_current_span("GET /ok"):  # the next root closes their shares
            assert runtime.ledger.totals(time_ns()).in_flight == 1
        attributed = runtime.ledger.totals(time_ns()).attributed_usd
        assert runtime.flush()
    ok = exporter.get_finished_spans()
    assert [s.name for s in ok] == ["GET /ok"]
    store = open_store(url)
    rows = {r[2]: r for r in store.rows(0)}
    store.close()
    count, compute = rows["<unended>"][5], rows["<unended>"][7]
    assert count == 1000 and compute > 0
    assert rows["GET /ok"][5] == 1 and rows["GET /ok"][7] == pytest.approx(ok[0].attributes["cost.compute.usd"])
    assert compute + ok[0].attributes["cost.compute.usd"] == pytest.approx(attributed, rel=1e-9)
    assert [r.getMessage() for r in caplog.records if "without end()" in r.getMessage()] == [
        "cost: a local root span was dropped without end(); its compute share is recorded under the transaction "
        "<unended>"
    ]


def test_a_root_seen_twice_is_costed_once(caplog: pytest.LogCaptureFixture) -> None:
    """A provider whose processor calls the SDK's ``on_start`` and has the fallback too reports a root twice: the
    second token is dropped, and the span's later collection must not close a share it never opened."""
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(SETTINGS, tracer_provider=provider) as inst:
        runtime = inst.runtime
        span = tracer.start_span("GET /twice")
        runtime.tracker.started(span, None)  # the second sighting
        with tracer.start_as_current_span("GET /other"):  # in flight while the first ends
            span.end()
            del span
            gc.collect()
            runtime.flush()
            assert runtime.ledger.totals(time_ns()).in_flight == 1
        assert runtime.ledger.totals(time_ns()).in_flight == 0
        _conserved(inst)
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["GET /other", "GET /twice"]
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry_instrumentation_cost")]


def test_root_ended_through_a_temporary_is_exported_with_its_cost() -> None:
    """``tracer.start_span(...).end()`` drops the app's only reference to the span before ``end`` runs."""
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(SETTINGS, tracer_provider=provider) as inst:
        for _ in range(3):
            tracer.start_span("GET /temporary").end()
        gc.collect()
        assert inst.runtime.ledger.totals(time_ns()).in_flight == 0
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["GET /temporary"] * 3
    assert all(s.attributes["cost.compute.usd"] > 0 for s in spans)


def test_unwritable_cache_dir_warns_once_and_prices_anyway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.pricing import FakePriceList, PricingConfig

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache dir should be")
    with FakePriceList(PricingConfig(prices={("m5.large", "us-east-1"): 0.1})) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
        settings = offline_settings(pricing_api=True, store_url="none", cache_dir=blocked / "cache")
        with instrumented(settings) as inst:
            assert inst.runtime.compute.price.usd == 0.1  # type: ignore[union-attr]
    warnings = [r.getMessage() for r in caplog.records if "cannot write the cache" in r.getMessage()]
    assert len(warnings) == 1 and "OTEL_PYTHON_COST_CACHE_DIR" in warnings[0]


def test_expired_next_token_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Page one carries a NextToken; fetching page two answers ExpiredNextTokenException."""
    import json

    from tests.fakes.pricing import FakePriceList, PricingConfig, ec2_product
    from tests.fakes.server import RecordingHandler

    class Paged(RecordingHandler):
        def do_POST(self) -> None:
            body = json.loads(self.body())
            if "NextToken" in body:
                self.reply(400, json.dumps({"__type": "ExpiredNextTokenException", "Message": "expired"}))
            else:
                self.reply(
                    200, json.dumps({"PriceList": [ec2_product("m5.large", "us-east-1", 0.1)], "NextToken": "page-2"})
                )

    fake = FakePriceList(PricingConfig())
    fake.httpd.RequestHandlerClass = Paged
    with fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
        settings = offline_settings(pricing_api=True, store_url="none")
        with instrumented(settings) as inst:
            price = inst.runtime.compute.price  # type: ignore[union-attr]
    assert (price.usd, price.source) == (0.096, "snapshot")


FULL_CACHE = """
import json, os, resource, signal, sys
from pathlib import Path
from opentelemetry_instrumentation_cost._cache import DiskCache
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
directory = Path(sys.argv[1])
cache = DiskCache(directory, 3600)
cache.put("prices", "old", {"usd": 0.1})  # written while there is room
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, ((directory / "prices.json").stat().st_size, hard))  # the disk is full
cache.put("prices", "new", {"usd": 0.2})
cache.put("prices", "newer", {"usd": 0.3})
print(json.dumps([cache.get("prices", "new"), json.loads((directory / "prices.json").read_text())["old"]["value"],
                  sorted(os.listdir(directory))]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_full_cache_disk_keeps_the_old_file_whole_and_warns_once(tmp_path: Path) -> None:
    """A cache write that hits a full disk (EFBIG from a file-size limit) leaves the file other processes read
    as it was, leaves no temporary file behind, keeps the value in memory, and warns once."""
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", FULL_CACHE, str(tmp_path / "cache")], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [{"usd": 0.2}, {"usd": 0.1}, ["prices.json"]]
    assert run.stderr.count("cannot write the cache") == 1 and "OTEL_PYTHON_COST_CACHE_DIR" in run.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_sqlite_disk_full_keeps_batches_and_writes_them_later(tmp_path: Path) -> None:
    """A writer whose file-size limit is hit (EFBIG, as on a full disk) keeps its batch, then writes it once."""
    import subprocess
    import sys

    script = f"""
import resource, signal, sqlite3, time
from opentelemetry_instrumentation_cost.store.model import Batch, Row, StoreUnavailable
from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore
from opentelemetry_instrumentation_cost.store.aggregate import Aggregator
from opentelemetry_instrumentation_cost.store.flush import Flusher
from opentelemetry_instrumentation_cost.attribution.ledger import ComputeLedger
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
store = SQLiteStore(__import__("pathlib").Path("{tmp_path}/full.db"))
agg = Aggregator(("m5.large", "us-east-1", "web-1", "b1"))
flusher = Flusher(agg, store, 3600, 10, ComputeLedger(0), lambda: None, lambda: "shop")
now = int(time.time()) // 60 * 60
big = "x" * 200_000
agg.add((now, "shop", big, "m5.large", "us-east-1", "web-1", "b1"), Row(1, 1.0, 1.0, 0, 1.0, 0))
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))  # the "disk" is full
print("first", flusher.flush(), len(flusher.pending))
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
print("second", flusher.flush(), len(flusher.pending))
rows = sqlite3.connect("{tmp_path}/full.db").execute("select count, sum_usd from otel_cost_transactions").fetchall()
print("rows", rows)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60).stdout
    assert out.splitlines() == ["first False 1", "second True 0", "rows [(1, 1.0)]"]


def _held_at_fork() -> list[tuple[str, object, object]]:
    """Locks other threads take, each with what a forked child would then do that needs it."""
    from opentelemetry_instrumentation_cost import _log
    from opentelemetry_instrumentation_cost.aws import registry
    from opentelemetry_instrumentation_cost.transactions.names import TransactionNames

    names = TransactionNames(10)
    return [
        ("warning", _log, lambda: _log.warn_once("forked-child", "cost: a warning in a forked child")),
        ("meter import", registry, lambda: registry.meter_for(f"unheard-of-{os.getpid()}")),  # never looked up
        ("new transaction name", names, lambda: names.admit("GET /new")),
    ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
@pytest.mark.parametrize("case", [0, 1, 2], ids=["warning", "meter-import", "new-name"])
def test_a_fork_while_another_thread_holds_a_lock_does_not_hang_the_child(case: int) -> None:
    """The flusher warns on every flush while the store is down, request threads import meters and admit names:
    a worker forked at that moment inherits the lock held, by a thread it does not have."""
    import signal

    _, owner, use = _held_at_fork()[case]
    with owner._lock:  # type: ignore[attr-defined]  # as that other thread holds it
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)  # a hang ends the child by SIGALRM
            use()  # type: ignore[operator]
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
