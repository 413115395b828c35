"""SQLite and a real PostgreSQL: the same report for the same rows, partitions, retention, exactly-once writes,
many writers adding up, and an outage (store down at start, cut mid-run, back) with nothing lost or doubled."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opentelemetry_instrumentation_cost.attribution.ledger import ComputeLedger
from opentelemetry_instrumentation_cost.cli.report import summarize
from opentelemetry_instrumentation_cost.store.model import Batch, Row, StoreUnavailable
from opentelemetry_instrumentation_cost.store.postgres import PostgresStore, partition_name
from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore
from tests.fakes.tcpproxy import TcpProxy
from tests.inprocess import instrumented, memory_provider, offline_settings

NOW = int(time.time()) // 60 * 60


def _batch() -> Batch:
    return Batch(
        {
            (NOW, "shop", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1"): Row(
                3, 0.006, 0.0015, 0.0045, 0.0025, 1
            ),
            (NOW - 60, "shop", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1"): Row(
                1, 0.002, 0.0005, 0.0015, 0.002, 0
            ),
            (NOW, "quote", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1"): Row(
                3, 0.0003, 0.0003, 0.0, 0.0001, 0
            ),
            (NOW, "shop", "<idle>", "m5.large", "us-east-1", "web-1", "b1"): Row(0, 0.001, 0.001, 0.0, 0.0, 0),
        }
    )


def _stores(tmp_path: Path, pg_url: str) -> list:
    return [SQLiteStore(tmp_path / "c.db"), PostgresStore(pg_url)]


def test_sqlite_and_postgresql_give_the_same_report(tmp_path: Path, pg_url: str) -> None:
    reports = []
    for store in _stores(tmp_path, pg_url):
        store.write(_batch())
        store.write(
            Batch(
                {
                    (NOW, "shop", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1"): Row(
                        1, 0.001, 0.001, 0, 0.003, 0
                    )
                }
            )
        )
        reports.append(summarize(store.rows(NOW - 3600), "transaction"))
        store.close()
    (lines, idle), (pg_lines, pg_idle) = reports
    assert idle == pg_idle == pytest.approx(0.001)
    # 5 checkouts at the edge ('shop'), each also crossing 'quote': counted once, costs summed over both
    assert [(x.group, x.requests, x.budget_violations) for x in lines] == [("POST /checkout", 5, 1)]
    assert [(x.group, x.requests, x.budget_violations) for x in pg_lines] == [("POST /checkout", 5, 1)]
    for a, b in zip(lines, pg_lines, strict=True):
        assert (a.total_usd, a.compute_usd, a.service_usd, a.max_usd) == pytest.approx(
            (b.total_usd, b.compute_usd, b.service_usd, b.max_usd), rel=1e-12
        )
    assert lines[0].max_usd == 0.003 and lines[0].total_usd == pytest.approx(0.0093)


def test_untraced_calls_and_unended_roots_are_counted_in_every_service() -> None:
    """Unlike a transaction crossing services, a process's ``<untraced>`` calls are its own: summed, not the max."""
    rows = [
        (NOW, "shop", "<untraced>", "m5.large", "us-east-1", 5, 0.5, 0.0, 0.5, 0, 0.1),
        (NOW, "quote", "<untraced>", "m5.large", "us-east-1", 3, 0.3, 0.0, 0.3, 0, 0.1),
        (NOW, "quote", "<unended>", "m5.large", "us-east-1", 2, 0.2, 0.2, 0.0, 0, 0.1),
        (NOW, "shop", "<unended>", "m5.large", "us-east-1", 1, 0.1, 0.1, 0.0, 0, 0.1),
    ]
    lines, _ = summarize(rows, "transaction")
    assert [(x.group, x.requests, x.mean_usd) for x in lines] == [
        ("<untraced>", 8, pytest.approx(0.1)),
        ("<unended>", 3, pytest.approx(0.1)),
    ]


def test_a_batch_written_twice_counts_once(tmp_path: Path, pg_url: str) -> None:
    for store in _stores(tmp_path, pg_url):
        batch = _batch()
        store.write(batch)
        store.write(batch)  # a retry after a commit whose outcome was unknown
        lines, _ = summarize(store.rows(NOW - 3600), "service")
        assert [(line.group, line.requests) for line in lines] == [("shop", 4), ("quote", 3)]
        store.close()


def test_postgresql_table_is_partitioned_by_day_and_old_days_are_dropped(pg_url: str) -> None:
    today = datetime.now(UTC).date()
    old_day = today - timedelta(days=120)
    store = PostgresStore(pg_url, retention_days=90)
    store.write(_batch())
    store.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = 'otel_cost_transactions'"
        ).fetchone() == (1,)
        parts = set(_partitions(conn))
        assert {partition_name(today + timedelta(days=n)) for n in range(3)} <= parts  # created ahead
        assert conn.execute("SELECT version FROM otel_cost_schema").fetchall() == [(5,)]
        # a partition left from 120 days ago, with its rows
        conn.execute(
            f"CREATE TABLE {partition_name(old_day)} PARTITION OF otel_cost_transactions FOR VALUES "
            f"FROM ('{old_day}') TO ('{old_day + timedelta(days=1)}')"
        )
        conn.execute(
            "INSERT INTO otel_cost_transactions VALUES (%s, 'shop', 't', 'm5.large', 'us-east-1', 1, 1, 1, 0, 0, 1)",
            (datetime(old_day.year, old_day.month, old_day.day, 12, tzinfo=UTC),),
        )
    later = PostgresStore(pg_url, retention_days=90)
    later.write(Batch({(NOW, "shop", "GET /", "m5.large", "us-east-1", "web-1", "b1"): Row(1, 1.0, 1.0, 0, 1.0, 0)}))
    later.maintain()  # a process's daily upkeep (after its first periodic flush of the day) prunes
    old_row = Batch(
        {
            (
                int(datetime(old_day.year, old_day.month, old_day.day, 13, tzinfo=UTC).timestamp()),
                "shop",
                "t",
                "m5.large",
                "us-east-1",
            ): Row(1, 1.0, 1.0, 0, 1.0, 0)
        }
    )
    later.write(old_row)  # a row older than the retention is discarded, not an error
    later.close()
    with psycopg.connect(pg_url) as conn:
        remaining = set(_partitions(conn))
    assert partition_name(old_day) not in remaining and partition_name(today) in remaining


def _partitions(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'otel_cost_transactions'"
        )
    ]


WRITER = """
import sys
from opentelemetry_instrumentation_cost.store.model import Batch, Row
from opentelemetry_instrumentation_cost.store.open import open_store
store = open_store(sys.argv[1])
key = (int(sys.argv[2]), "shop", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1")
for _ in range(5):
    store.write(Batch({key: Row(1, 0.5, 0.5, 0, 0.5, 0)}))
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_processes_writing_the_same_keys_add_up(tmp_path: Path, pg_url: str, kind: str) -> None:
    url = pg_url if kind == "postgresql" else f"sqlite:///{tmp_path}/shared.db"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(NOW)]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    store = PostgresStore(url) if kind == "postgresql" else SQLiteStore(tmp_path / "shared.db")
    (line,), _ = summarize(store.rows(NOW - 60), "transaction")
    store.close()
    assert (line.requests, line.total_usd) == (15, pytest.approx(7.5))


def test_outage_loses_and_doubles_nothing(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL behind a loopback proxy: down at start, cut mid-run, back; compared with the spans themselves."""
    target = psycopg.conninfo.conninfo_to_dict(pg_url)
    with TcpProxy(("127.0.0.1", int(target.get("port", 5432)))) as proxy:
        url = pg_url.replace(":5432/", f":{proxy.port}/")
        settings = offline_settings(store_url=url, flush_interval_s=3600)
        provider, exporter = memory_provider()
        tracer = provider.get_tracer("t")
        with instrumented(settings, tracer_provider=provider) as inst:
            runtime = inst.runtime
            assert runtime is not None

            def requests(n: int) -> None:
                for _ in range(n):
                    with tracer.start_as_current_span("POST /checkout"):
                        pass

            requests(5)
            assert runtime.flush() is False  # down at start: kept in memory
            proxy.up()
            requests(3)
            assert runtime.flush() is True  # back: both batches written, in order
            requests(4)
            proxy.down()  # killed mid-run
            assert runtime.flush() is False
            proxy.up()  # restarted
            requests(2)
            assert runtime.flush() is True
            assert runtime.flusher.dropped_batches == 0
    spans = exporter.get_finished_spans()
    store = PostgresStore(pg_url)
    lines, _ = summarize(store.rows(NOW - 3600), "transaction")
    store.close()
    (line,) = lines
    assert line.requests == len(spans) == 14
    assert line.total_usd == pytest.approx(sum(s.attributes["cost.transaction.usd"] for s in spans), rel=1e-9)


def test_buffer_is_bounded_and_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry_instrumentation_cost.store.aggregate import Aggregator
    from opentelemetry_instrumentation_cost.store.flush import Flusher

    class Down:
        def write(self, batch: Batch) -> None:
            raise StoreUnavailable("PostgreSQL postgresql://u:***@db/x: OperationalError")

    agg = Aggregator(("m5.large", "us-east-1", "web-1", "b1"))
    flusher = Flusher(agg, Down(), 3600, 3, ComputeLedger(0), lambda: None, lambda: "shop")
    for i in range(5):
        agg.add((NOW + i * 60, "shop", "t", "m5.large", "us-east-1", "web-1", "b1"), Row(1, 1.0, 1.0, 0, 1.0, 0))
        flusher.flush()
    assert len(flusher.pending) == 3 and flusher.dropped_batches == 2
    assert [min(b.rows)[0] for b in flusher.pending] == [NOW + 120, NOW + 180, NOW + 240]  # the newest kept
    assert any("2 batches dropped" in r.getMessage() or "batches dropped" in r.getMessage() for r in caplog.records)


def test_a_dropped_partition_is_recreated_and_nothing_is_lost(pg_url: str) -> None:
    from opentelemetry_instrumentation_cost.store.aggregate import Aggregator
    from opentelemetry_instrumentation_cost.store.flush import Flusher

    store = PostgresStore(pg_url)
    flusher = Flusher(
        Aggregator(("m5.large", "us-east-1", "web-1", "b1")),
        store,
        3600,
        10,
        ComputeLedger(0),
        lambda: None,
        lambda: "shop",
    )
    key = (NOW, "shop", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1")
    flusher.aggregator.add(key, Row(1, 1.0, 1.0, 0, 1.0, 0))
    assert flusher.flush()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # someone drops the day's partition under us
        conn.execute(f"DROP TABLE {partition_name(datetime.fromtimestamp(NOW, UTC).date())}")
    flusher.aggregator.add(key, Row(2, 2.0, 2.0, 0, 1.5, 0))
    assert flusher.flush() is False and len(flusher.pending) == 1  # no partition for the row: kept
    assert flusher.flush() is True  # recreated, written once
    (line,), _ = summarize(store.rows(NOW - 60), "transaction")
    store.close()
    assert (line.requests, line.total_usd) == (2, 2.0)  # the first batch went with its partition; the second is whole


def test_queued_roots_are_folded_early_and_none_is_lost() -> None:
    """Ended roots queue as tuples; every 2,000 the flusher is woken (here: no flusher, so the recording thread
    folds them itself). Memory stays bounded and the rows hold every root exactly once."""
    from opentelemetry.sdk.resources import Resource

    from opentelemetry_instrumentation_cost.attribution.ledger import Token
    from opentelemetry_instrumentation_cost.store.aggregate import _WAKE_AT, Aggregator

    agg = Aggregator(("m5.large", "us-east-1", "web-1", "b1"))
    woken: list[int] = []
    resource = Resource.create({"service.name": "shop"})
    minute = 1_700_000_000 * 10**9 // 60_000_000_000 * 60_000_000_000
    for n in range(2 * _WAKE_AT + 7):
        token = Token(n, 1)
        token.end_ns, token.transaction, token.compute, token.services_usd = minute + n, "GET /x", 0.001, 0.002
        agg.record(token, resource)
        if n == _WAKE_AT - 1:
            assert len(agg._ended) == 0  # folded at once by this thread (no flusher to wake)
            agg.wake = lambda: woken.append(len(agg._ended))
    assert woken == [_WAKE_AT] and len(agg._ended) == _WAKE_AT + 7
    rows, values = agg.drain()
    assert list(rows) == [(minute // 10**9, "shop", "GET /x", "m5.large", "us-east-1", "web-1", "b1", "")]
    row = next(iter(rows.values()))
    assert row.count == 2 * _WAKE_AT + 7 and len(values) == row.count
    assert row.sum_usd == pytest.approx(0.003 * row.count) and row.max_usd == pytest.approx(0.003)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_writes_through_connections_of_its_own(pg_url: str) -> None:
    """A worker forked after its master wrote (gunicorn --preload re-forking a worker) must not use the master's
    pool: its connections are the master's sockets, and its threads did not survive the fork. The master's
    sessions are ended between the fork and the child's write, as a server restart would."""

    settings = offline_settings(store_url=pg_url, flush_interval_s=3600)
    provider, _ = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(settings, tracer_provider=provider) as inst:
        runtime = inst.runtime
        assert runtime is not None
        with tracer.start_as_current_span("GET /master"):
            pass
        assert runtime.flush() is True  # the master's pool is open, with a connection
        go_read, go_write = os.pipe()
        done_read, done_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.read(go_read, 1)
                with tracer.start_as_current_span("GET /worker"):
                    pass
                os.write(done_write, b"ok" if runtime.flush() else b"no")
            finally:
                os._exit(0)
        database = psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        os.write(go_write, b"1")
        child_flushed = os.read(done_read, 2)
        os.waitpid(pid, 0)
    store = PostgresStore(pg_url)
    names = {r[2] for r in store.rows(NOW - 3600)}
    store.close()
    assert child_flushed == b"ok"
    assert {"GET /master", "GET /worker"} <= names


def test_exit_does_not_wait_out_a_store_that_does_not_answer(tmp_path: Path) -> None:
    """Another process holds the SQLite file's write lock (whose busy timeout is 30 s): an instrumented script
    still exits at once, after at most the 2 s it gives the store, with one warning."""
    import sqlite3

    from tests.conftest import BIN, subprocess_env

    db = tmp_path / "busy.db"
    SQLiteStore(db).write(_batch())  # the schema exists
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held until the script has exited
    try:
        env = subprocess_env(
            tmp_path,
            OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
            OTEL_PYTHON_COST_STORE_URL=f"sqlite:///{db}",
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
        )
        script = "import time; time.sleep(0.5)"  # long enough for the host to be priced: idle to write at exit
        started = time.monotonic()
        run = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("did not take the last aggregates within 2 s") == 1, run.stderr
    assert took < 15  # the store alone would have held the exit for 30 s


def _job_in_a_child(tracer_provider: Any) -> None:
    with tracer_provider.get_tracer("t").start_as_current_span("job in a child"):
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_multiprocessing_child_flushes_before_it_exits(tmp_path: Path) -> None:
    """multiprocessing's forked children end with ``os._exit``, which skips ``atexit``: their last aggregates
    must still reach the store, through multiprocessing's own exit hook."""
    import multiprocessing

    url = f"sqlite:///{tmp_path}/c.db"
    provider, _ = memory_provider()
    with instrumented(offline_settings(store_url=url, flush_interval_s=3600), tracer_provider=provider):
        child = multiprocessing.get_context("fork").Process(target=_job_in_a_child, args=(provider,))
        child.start()
        child.join(30)
    assert child.exitcode == 0
    store = SQLiteStore(tmp_path / "c.db")
    rows = {r[2]: r[5] for r in store.rows(NOW - 3600)}
    store.close()
    assert rows.get("job in a child") == 1


def test_doctor_says_why_postgresql_refuses(tmp_path: Path, pg_url: str) -> None:
    """The pool retries a failing connection quietly and then reports only its own timeout; the reason (here an
    unknown database) is what the operator needs."""
    from tests.conftest import BIN, subprocess_env

    url = pg_url.rsplit("/", 1)[0] + "/no_such_database_here"
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_COST_STORE_URL=url)
    doctor = subprocess.run([str(BIN / "otel-cost"), "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 1, doctor.stderr
    assert 'database "no_such_database_here" does not exist' in doctor.stdout, doctor.stdout
    assert "PoolTimeout" not in doctor.stdout


def test_a_child_forked_while_its_parent_writes_sqlite_can_write(tmp_path: Path) -> None:
    """SQLite keeps its lock state per process, in memory a fork copies: a child forked while its parent was in a
    write transaction could never write that file (it waits out the busy timeout on a lock nobody holds; Celery's
    prefork children lost their last aggregates so). The fork now waits for the flush in progress. The parent's
    flusher writes big batches on a thread, the main thread forks 10 children in the middle of it; each must write
    within 5 s (before the fix, 7 of 10 never could)."""
    from opentelemetry_instrumentation_cost.store.aggregate import Aggregator
    from opentelemetry_instrumentation_cost.store.flush import Flusher

    path = tmp_path / "c.db"
    host = ("m5.large", "us-east-1", "web-1", "b1")
    aggregator = Aggregator(host)
    flusher = Flusher(aggregator, SQLiteStore(path), 3600, 10, ComputeLedger(0), lambda: None, lambda: "shop")
    stop = [time.monotonic() + 60]
    writes = [0]

    def writer() -> None:
        while time.monotonic() < stop[0]:
            for i in range(1000):
                aggregator.add((NOW, "shop", f"GET /{i}", *host), Row(1, 0.1))
            assert flusher.flush()
            writes[0] += 1
            time.sleep(0.002)  # a flusher writes now and then, not back to back

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    failed = 0
    try:
        while writes[0] == 0:
            time.sleep(0.01)
        for i in range(10):
            pid = os.fork()
            if pid == 0:  # the child: write, or give up after 5 s
                threading.Timer(5, os._exit, (3,)).start()
                try:
                    SQLiteStore(path).write(Batch({(NOW, "child", str(i), "m5.large", "us-east-1", "h", "b"): Row(1)}))
                    os._exit(0)
                except BaseException:
                    os._exit(4)
            failed += os.waitpid(pid, 0)[1] != 0
            time.sleep(0.013)
    finally:
        stop[0] = 0.0
        thread.join(30)
    assert failed == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM otel_cost_transactions WHERE service = 'child'").fetchone() == (10,)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_old_batch_ids_are_pruned_by_their_index_and_current_ones_kept(tmp_path: Path, pg_url: str, kind: str) -> None:
    """A batch id only guards a retry from the process's buffer (an hour by default): ids older than two days go,
    through an index on ``applied_at`` (no full scan), and the rows they wrote stay; a recent id still stops its
    batch from being added twice."""
    row = {(NOW, "shop", "GET /", "m5.large", "us-east-1", "web-1", "b1"): Row(1, 1.0, 1.0, 0, 1.0, 0)}
    recent = Batch(row, id="recent")
    if kind == "sqlite":
        store: Any = SQLiteStore(tmp_path / "c.db")
        store.write(recent)
        with sqlite3.connect(tmp_path / "c.db") as conn:
            conn.executemany(
                "INSERT INTO otel_cost_batches VALUES (?, ?)", [(f"old{i}", time.time() - 3 * 86400) for i in range(5)]
            )
            indexes = [r[1] for r in conn.execute("PRAGMA index_list(otel_cost_batches)")]

        def ids() -> set[str]:
            with sqlite3.connect(tmp_path / "c.db") as conn:
                return {r[0] for r in conn.execute("SELECT batch_id FROM otel_cost_batches")}
    else:
        store = PostgresStore(pg_url)
        store.write(recent)
        with psycopg.connect(pg_url) as conn:
            old = [(f"old{i}",) for i in range(5)]
            conn.cursor().executemany("INSERT INTO otel_cost_batches VALUES (%s, now() - interval '3 days')", old)
            indexes = [
                r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'otel_cost_batches'")
            ]
        store = PostgresStore(pg_url)

        def ids() -> set[str]:
            with psycopg.connect(pg_url) as conn:
                return {r[0] for r in conn.execute("SELECT batch_id FROM otel_cost_batches")}

    assert "otel_cost_batches_applied_at" in indexes
    store.write(Batch(row, id="next"))
    store.maintain()  # a process's daily upkeep prunes (SQLite: every write)
    store.write(recent)  # a retry of a batch already applied: not added again
    assert ids() == {"recent", "next"}
    rows = store.rows(NOW - 60)
    assert [r[5] for r in rows] == [2]  # "recent" once, "next" once
    store.close()
