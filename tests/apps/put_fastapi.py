"""A FastAPI service whose every request does some work and one DynamoDB PutItem (the table is the test's)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import boto3
from fastapi import FastAPI

from tests.apps import oracle

oracle.install()
app = FastAPI()
_ddb: list = []


@app.get("/health")
def health() -> str:
    return "ok"


@app.post("/put", status_code=201)
def put(work_ms: float = 5.0) -> str:  # a sync endpoint: Starlette runs it on its thread pool, with the context
    if not _ddb:
        _ddb.append(boto3.client("dynamodb"))
    time.sleep(work_ms / 1000.0)
    _ddb[0].put_item(TableName=os.environ["PUT_TABLE"], Item={"id": {"S": str(uuid.uuid4())}})
    return "stored"


@app.post("/fanout", status_code=201)
async def fanout() -> str:
    """An async endpoint handing blocking writes to the event loop's default executor."""
    if not _ddb:
        _ddb.append(boto3.client("dynamodb"))
    loop = asyncio.get_running_loop()
    item = {"id": {"S": str(uuid.uuid4())}}
    await loop.run_in_executor(None, lambda: _ddb[0].put_item(TableName=os.environ["PUT_TABLE"], Item=item))
    await loop.run_in_executor(None, lambda: _ddb[0].put_item(TableName=os.environ["PUT_TABLE"], Item=item))
    return "written"
