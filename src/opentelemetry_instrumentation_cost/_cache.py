"""A small JSON disk cache with a TTL, shared by host detection and the price book.

Each file is read once per process and kept in memory (lookups happen on request paths); writes update memory and
the file. Writes are atomic (temp file + rename) so concurrent processes never read half a file; a corrupt or
unreadable file is ignored with one warning, and an unwritable directory or a full disk costs only the file (this
process keeps every value in memory), never the app.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ._fork import renew_lock_after_fork
from ._log import warn_once


class DiskCache:
    """``<dir>/<name>.json`` holding ``{key: {"at": epoch seconds, "value": ...}}``."""

    def __init__(self, directory: Path, ttl_s: float) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        renew_lock_after_fork(self)
        self._files: dict[str, dict[str, Any]] = {}

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _loaded(self, name: str) -> dict[str, Any]:
        data = self._files.get(name)
        if data is None:
            data = self._files[name] = self._read(name)
        return data

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            warn_once(f"cache-read-{path}", "cost: ignoring unreadable or corrupt cache file %s", path)
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, name: str, key: str, max_age_s: float | None = None) -> Any | None:
        """The cached value if younger than the TTL (or ``max_age_s``), else None."""
        entry = self._loaded(name).get(key)
        ttl = self.ttl_s if max_age_s is None else min(max_age_s, self.ttl_s)
        if not isinstance(entry, dict) or not isinstance(entry.get("at"), (int, float)):
            return None
        if time.time() - entry["at"] > ttl:
            return None
        return entry.get("value")

    def put(self, name: str, key: str, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                data = self._read(name)  # merge with what other processes wrote since
                for kept, entry in self._files.get(name, {}).items():
                    data.setdefault(kept, entry)  # and keep what this process holds but could not write
                data[key] = {"at": time.time(), "value": value}
                self._files[name] = data
                fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
                try:
                    with os.fdopen(fd, "w") as f:
                        json.dump(data, f)
                    os.replace(tmp, self._path(name))
                except BaseException:
                    os.unlink(tmp)
                    raise
            except OSError as exc:
                warn_once(
                    f"cache-write-{self.directory}",
                    "cost: cannot write the cache in %s (%s); set OTEL_PYTHON_COST_CACHE_DIR to a writable directory",
                    self.directory,
                    exc.__class__.__name__,
                )
