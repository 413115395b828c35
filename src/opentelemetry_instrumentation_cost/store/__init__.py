"""Cost aggregates: in-process per-minute rows, flushed in batches to SQLite, PostgreSQL, or nowhere."""
