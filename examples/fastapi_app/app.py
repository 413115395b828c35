"""A FastAPI service for uvicorn: one endpoint that waits ``work_ms``. It knows nothing about cost."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health(work_ms: float = 0.0) -> dict[str, str]:
    if work_ms:
        await asyncio.sleep(work_ms / 1000.0)
    return {"status": "ok"}
