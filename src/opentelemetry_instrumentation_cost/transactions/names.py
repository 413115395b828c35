"""Transaction names are untrusted input (they arrive in baggage): bounded length, no control characters, and a
cap on distinct names per process, past which names are counted under ``<other>``."""

from __future__ import annotations

import threading

from .._fork import renew_lock_after_fork

MAX_LENGTH = 128
OTHER = "<other>"
IDLE = "<idle>"
UNENDED = "<unended>"  # local roots whose span the app dropped without ending it
UNTRACED = "<untraced>"  # AWS charges no open local root carries (start-up, untraced threads, late streams)
RESERVED = frozenset((IDLE, UNENDED, UNTRACED))  # the package's own rows: no request may take these names
BAGGAGE_KEY = "cost.transaction"
_CONTROL = {i: None for i in (*range(0x20), 0x7F)}


KNOWN_MAX = 4096  # raw names remembered with what they became (admitted, cleaned or <other>)


class TransactionNames:
    def __init__(self, max_distinct: int) -> None:
        self._max = max_distinct
        self._seen: set[str] = set()
        # raw → its name: a name past the cap costs what an admitted one does; read directly on a root's end
        self.known: dict[str, str] = {}
        self._lock = threading.Lock()
        renew_lock_after_fork(self)

    def admit(self, raw: str) -> str:
        """The name to use for ``raw``: cleaned, and ``<other>`` once the process has seen too many."""
        known = self.known.get(raw)  # the common case: a name seen before, no lock
        if known is not None:
            return known
        name = raw[: MAX_LENGTH * 4].translate(_CONTROL).strip()[:MAX_LENGTH] or OTHER
        if name in RESERVED:  # a request named <idle> (say, from a caller's baggage) would be reported as idle time
            name = OTHER
        else:
            with self._lock:
                if name not in self._seen:
                    if len(self._seen) >= self._max:
                        name = OTHER
                    else:
                        self._seen.add(name)
        if len(self.known) < KNOWN_MAX and len(raw) <= MAX_LENGTH * 4:  # bounded: hostile names are not kept
            self.known[raw] = name
        return name

    def __len__(self) -> int:
        return len(self._seen)
