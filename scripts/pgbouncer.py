"""pgbouncer (Debian's package, ``scripts/ensure_pgbouncer.sh``) in transaction mode on a free loopback port, in front
of one database of the local PostgreSQL, as fleets run it: for the tests and ``make bench``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from scripts.harness import ROOT, free_port


@contextlib.contextmanager
def pgbouncer(pg_url: str, pool_size: int = 10) -> Iterator[str]:
    """The URL of a pgbouncer in front of ``pg_url``'s database. pgbouncer refuses to run as root: started as
    ``postgres`` then."""
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_pgbouncer.sh")], check=True)
    work = Path(tempfile.mkdtemp(prefix="otel-cost-pgbouncer-"))
    work.chmod(0o777)
    port, name = free_port(), pg_url.rsplit("/", 1)[1]
    ini = work / "pgbouncer.ini"
    ini.write_text(
        f"[databases]\n{name} = host=127.0.0.1 port=5432 dbname={name} user=postgres\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = any\npool_mode = transaction\n"
        f"max_client_conn = 1000\ndefault_pool_size = {pool_size}\nunix_socket_dir =\n"
        f"logfile = {work}/pgbouncer.log\npidfile = {work}/pgbouncer.pid\n"
    )
    ini.chmod(0o644)
    as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    proc = subprocess.Popen([*as_user, "/usr/sbin/pgbouncer", str(ini)], stderr=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
