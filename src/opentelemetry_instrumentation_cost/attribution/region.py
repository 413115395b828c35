"""The memory the ledger's integrals live in: one layout, two backings.

Every figure is an 8-byte cell, read and written through two views of the same bytes (``q``: int64, ``f``:
float64), the cheapest access pure Python has. A header holds the host's integrals; each process that joins takes a
slot for its own in-flight roots, so that when it dies another process can close their shares.

* ``PrivateRegion``: a ``bytearray`` and a thread lock, with one slot: today's per-process ledger, the special case.
* ``SharedRegion``: a memory-mapped file in a per-boot, per-cgroup place (``attribution/hostfile.py``), shared by
  every instrumented process of the host. The mutex is a named POSIX semaphore (CPython's ``_multiprocessing``
  ``SemLock``, what ``multiprocessing.Lock`` is made of): taken and given in user space when uncontended, with no
  system call and without letting go of the GIL (``flock``, the first design, cost two system calls per event, and
  each one let another thread take the GIL inside the critical section: 64 threads convoyed). Each process holds a
  POSIX record lock on its own slot's bytes for its whole life: a slot whose lock can be taken belongs to a dead
  process (SIGKILL, OOM), whatever its pid says. A process that dies holding the semaphore (it is held for a few
  microseconds) is found by the next one that waits ``SEM_WAIT_S`` for it, which gives it back (under ``flock``,
  so that only one does).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:  # the C hot path (``_cells.c``); without it (no compiler at install, another Python) the ledger runs in Python
    from . import _cells
except ImportError:  # pragma: no cover - the same code paths run with OTEL_PYTHON_COST_NATIVE=false
    _cells = None  # type: ignore[assignment]

MAGIC = 0x0C05_7A77_1ED6_E701
LAYOUT = 4  # 2: the ring of checkpoints (``late.py``); 3: a ring of 1,024; 4: S_ATTRIBUTED, checkpoint times mod 2**51
CELL = 8
RING = 1024  # checkpoints kept for late events: one cell each, ((time - session start) << 12) | roots in flight
RING_BASE = 32  # first cell of the ring
HEADER_CELLS = RING_BASE + RING
SLOT_CELLS = 16
MAX_SLOTS = 512
SIZE = (HEADER_CELLS + SLOT_CELLS * MAX_SLOTS) * CELL
NAME_BYTES = 64
SEM_WAIT_S = 0.25  # a wait this long for the semaphore looks for a dead holder
_SEMAPHORE = 1  # _multiprocessing's kind: a counting semaphore (a mutex kind would be owned by one thread)

# header cells (q: int, f: float)
H_MAGIC, H_LAYOUT, H_CREATED, H_LAST, H_N, H_PRICED, H_BILLS_IDLE, H_OPENED, H_BUSY_NS = range(9)
H_RATE, H_ACC, H_UNPRICED, H_HOST, H_IDLE, H_ATTRIBUTED, H_IDLE_TAKEN, H_HOST_TAKEN = range(9, 17)
H_PRICE, H_SHARE, H_SHARE_SOURCE, H_SLOTS_USED, H_RING_POS, H_IDLE_NS, H_HOLDER = range(17, 24)
_PRICE_CELLS = (H_PRICED, H_BILLS_IDLE, H_RATE, H_PRICE, H_SHARE, H_SHARE_SOURCE)  # copied as raw 8-byte cells
# slot cells, from the slot's first cell
S_PID, S_START, S_K, S_SUM_ACC, S_UNFLUSHED, S_UNFLUSHED_N, S_ROOTS, S_ATTRIBUTED = range(8)
S_NAME = 8  # NAME_BYTES of UTF-8: the process's service.name


class Region:
    """What the ledger needs of its memory: the two views, the lock, and this process's slot."""

    q: Any  # memoryview cast to int64 ("q") and to float64 ("d"); typed loosely, as typeshed's views take ints only
    f: Any
    slot: int  # the first cell of this process's slot
    shared = False
    lock: threading.Lock
    acquire: Callable[[], Any]
    release: Callable[[], Any]
    cells: Any = None  # ``_cells.Cells`` over this region and slot (the C hot path), None where it is not built

    def _bind_cells(self, buffer: Any, sem_handle: int) -> None:
        """The C hot path over ``buffer`` for this process's slot (again after a fork: the slot and pid change)."""
        self.cells = None if _cells is None else _cells.Cells(buffer, self.slot, os.getpid(), sem_handle)

    def join(self, now_ns: int, name: str, started_ns: int | None = None) -> None:
        """Take a slot; a new session (no other process alive) starts at ``started_ns`` (default ``now_ns``)."""
        raise NotImplementedError

    def after_fork(self, now_ns: int, name: str) -> None:
        raise NotImplementedError

    def dead_slots(self) -> list[int]:
        """Slots (first cells) of processes that died; probed outside the lock, checked again under it."""
        return []

    def live_slots(self) -> Iterator[int]:
        used = self.q[H_SLOTS_USED] or 1
        for i in range(min(used, MAX_SLOTS)):
            cell = HEADER_CELLS + i * SLOT_CELLS
            if self.q[cell + S_PID]:
                yield cell

    def name_of(self, slot: int) -> str:
        start = slot * CELL + S_NAME * CELL
        raw = bytes(self.q.obj[start : start + NAME_BYTES])
        return raw.rstrip(b"\0").decode("utf-8", "replace")

    def _write_slot(self, slot: int, now_ns: int, name: str) -> None:
        q = self.q
        for c in range(SLOT_CELLS):
            q[slot + c] = 0
        q[slot + S_PID] = os.getpid()
        q[slot + S_START] = now_ns
        start = slot * CELL + S_NAME * CELL
        self.q.obj[start : start + NAME_BYTES] = name.encode()[:NAME_BYTES].ljust(NAME_BYTES, b"\0")

    def _fresh_header(self, now_ns: int) -> None:
        """A new host session from ``now_ns``: no process of it was alive before, so nothing before is its cost."""
        q = self.q
        used = q[H_SLOTS_USED]
        for c in range(HEADER_CELLS):
            q[c] = 0
        q[H_MAGIC], q[H_LAYOUT], q[H_CREATED], q[H_LAST], q[H_BILLS_IDLE] = MAGIC, LAYOUT, now_ns, now_ns, 1
        q[H_SLOTS_USED] = used


class PrivateRegion(Region):
    """One process's own memory (``OTEL_PYTHON_COST_HOST_WIDE=false``, tests of the engine, a fallback)."""

    def __init__(self) -> None:
        self._buf = bytearray((HEADER_CELLS + SLOT_CELLS) * CELL)
        self.q = memoryview(self._buf).cast("q")
        self.f = memoryview(self._buf).cast("d")
        self.slot = HEADER_CELLS
        self._new_lock()

    def _new_lock(self) -> None:
        """The thread lock; its holder is marked in the header, where the C path (which needs no lock: it runs whole
        under the GIL) looks before it touches a cell."""
        lock = threading.Lock()
        take, give, q = lock.acquire, lock.release, self.q

        def acquire() -> None:
            take()
            q[H_HOLDER] = 1

        def release() -> None:
            q[H_HOLDER] = 0
            give()

        self.lock = lock
        self.acquire, self.release = acquire, release

    def join(self, now_ns: int, name: str, started_ns: int | None = None) -> None:
        self._fresh_header(now_ns if started_ns is None else started_ns)
        self.q[H_SLOTS_USED] = 1
        self._write_slot(self.slot, now_ns, name)
        self._bind_cells(self._buf, 0)

    def after_fork(self, now_ns: int, name: str) -> None:
        """Totals of its own from now, at its parent's price."""
        self._new_lock()
        price = [self.q[c] for c in _PRICE_CELLS]
        self.join(now_ns, name)
        for c, value in zip(_PRICE_CELLS, price, strict=True):
            self.q[c] = value


class SharedRegion(Region):
    """The host's region: a file mapped by every instrumented process of the host."""

    shared = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = self._open()
        try:
            os.ftruncate(self._fd, SIZE) if os.fstat(self._fd).st_size < SIZE else None
            self._map = mmap.mmap(self._fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self._sem = _named_semaphore(path)
        except BaseException:
            os.close(self._fd)
            raise
        self.q = memoryview(self._map).cast("q")
        self.f = memoryview(self._map).cast("d")
        self.slot = 0
        self._new_lock()

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)

    def _new_lock(self) -> None:
        """``acquire``/``release``: the host's semaphore, the holder's pid in the header; ``lock``: this process's
        thread lock, for what only its own tokens hold."""
        self.lock = threading.Lock()
        take, give, q, pid = self._sem.acquire, self._sem.release, self.q, os.getpid()

        def acquire() -> None:
            if not take(True, SEM_WAIT_S):
                self._wait_or_recover()
            q[H_HOLDER] = pid

        def release() -> None:
            q[H_HOLDER] = 0
            give()

        self.acquire, self.release = acquire, release

    def _wait_or_recover(self) -> None:
        """The semaphore was not given within ``SEM_WAIT_S``: wait on, and if its holder is dead (or none is
        recorded, a holder that died between taking it and writing its pid, for 2 s), give it back on its behalf.
        Under ``flock``, so that one process recovers it once."""
        unknown = 0
        while not self._sem.acquire(True, SEM_WAIT_S):
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                holder = self.q[H_HOLDER]
                unknown = unknown + 1 if holder == 0 else 0
                if (holder and not self._alive(holder)) or unknown >= 8:
                    if self._sem._get_value() == 0:
                        self.q[H_HOLDER] = 0
                        self._sem.release()
                    unknown = 0
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _alive(self, pid: int) -> bool:
        """Whether a process of this host with that pid holds its slot (its record lock)."""
        return any(self.q[c + S_PID] == pid and not self._dead(c) for c in self.live_slots())

    def join(self, now_ns: int, name: str, started_ns: int | None = None) -> None:
        """Take a free slot (and its record lock, held for life). With no process of the host alive, start a new
        session: what dead processes left is not this session's. A dead process's slot is not taken while others
        live: the reaper of a live process closes its shares first (``ComputeLedger.reap``)."""
        self.acquire()
        try:
            q = self.q
            if q[H_MAGIC] != MAGIC or q[H_LAYOUT] != LAYOUT:
                self._map[:] = bytes(SIZE)
                self._fresh_header(now_ns)
            used = min(q[H_SLOTS_USED], MAX_SLOTS)
            cells = [HEADER_CELLS + i * SLOT_CELLS for i in range(used)]
            if not any(q[c + S_PID] and not self._dead(c) for c in cells):
                self._map[HEADER_CELLS * CELL :] = bytes(SIZE - HEADER_CELLS * CELL)
                self._fresh_header(now_ns if started_ns is None else started_ns)
                q[H_SLOTS_USED] = used = 0
            free = next((c for c in cells if not q[c + S_PID] and self._lock_slot(c)), None)
            if free is None:
                if used >= MAX_SLOTS or not self._lock_slot(HEADER_CELLS + used * SLOT_CELLS):
                    raise OSError(f"no free slot in the host ledger {self.path} ({MAX_SLOTS} processes)")
                free = HEADER_CELLS + used * SLOT_CELLS
                q[H_SLOTS_USED] = used + 1
            q[H_SLOTS_USED] = max(q[H_SLOTS_USED], (free - HEADER_CELLS) // SLOT_CELLS + 1)
            self.slot = free
            self._write_slot(free, now_ns, name)
        finally:
            self.release()
        self._bind_cells(self._map, self._sem.handle)

    def _lock_slot(self, cell: int) -> bool:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, SLOT_CELLS * CELL, cell * CELL)
            return True
        except OSError:
            return False

    def _dead(self, cell: int) -> bool:
        """Whether the slot's owner is gone: its record lock can be taken (then given back at once)."""
        if cell == self.slot:
            return False
        if not self._lock_slot(cell):
            return False
        fcntl.lockf(self._fd, fcntl.LOCK_UN, SLOT_CELLS * CELL, cell * CELL)
        return True

    def dead_slots(self) -> list[int]:
        return [cell for cell in self.live_slots() if self._dead(cell)]

    def close(self) -> None:
        """Let go of the file (a reader such as ``otel-cost doctor``; the mapping goes with the object)."""
        os.close(self._fd)

    def after_fork(self, now_ns: int, name: str) -> None:
        """A forked child holds none of its parent's record locks and shares its parent's open file (so its
        ``flock``): it opens the file again and takes a slot of its own. The mapping itself stays valid."""
        inherited = self._fd
        self._fd = self._open()
        os.close(inherited)
        self.slot = 0
        self._new_lock()  # the semaphore is the host's, shared by the child as it is; the pid is the child's
        self.join(now_ns, name)


def _named_semaphore(path: Path) -> Any:
    """The host's semaphore, named after its ledger file (``/dev/shm/sem.otel-cost-…``), created by the first
    process and opened by the others."""
    import _multiprocessing  # CPython's; a platform without it falls back to the process's own ledger

    name = "/otel-cost-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    try:
        return _multiprocessing.SemLock(_SEMAPHORE, 1, 1, name, False)
    except FileExistsError:
        return _multiprocessing.SemLock._rebuild(0, _SEMAPHORE, 1, name)
