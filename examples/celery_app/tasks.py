"""A Celery worker's tasks (broker from ``CELERY_BROKER_URL``). It knows nothing about cost."""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery("tasks", broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)


@app.task(name="tasks.work")
def work(ms: float) -> None:
    time.sleep(ms / 1000.0)
