"""A batch job: ``JOBS`` jobs on a ``multiprocessing.Pool`` of 2, each traced as a span of its own."""

from __future__ import annotations

import multiprocessing
import os
import time

from opentelemetry import trace


def job(ms: float) -> None:
    with trace.get_tracer("pool_job").start_as_current_span("job"):
        time.sleep(ms / 1000.0)


if __name__ == "__main__":
    jobs = int(os.environ.get("JOBS", "200"))
    with multiprocessing.get_context("fork").Pool(2) as pool:  # leaving ``with`` terminates the workers (SIGTERM)
        pool.map(job, [float(os.environ.get("JOB_MS", "20"))] * jobs, chunksize=1)
