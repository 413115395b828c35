"""What must be installed for the instrumentor to load: nothing beyond the SDK it patches."""

_instruments: tuple[str, ...] = ()
