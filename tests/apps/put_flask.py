"""A Flask service whose every request does some work and one DynamoDB PutItem (the table is the test's)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from flask import Flask, request

from tests.apps import oracle

oracle.install()
app = Flask(__name__)
_ddb: list = []


@app.get("/health")
def health() -> str:
    return "ok"


@app.post("/put")
def put() -> tuple[str, int]:
    if not _ddb:
        _ddb.append(boto3.client("dynamodb"))
    time.sleep(float(request.args.get("work_ms", "5")) / 1000.0)
    _ddb[0].put_item(TableName=os.environ["PUT_TABLE"], Item={"id": {"S": str(uuid.uuid4())}})
    return "stored", 201


@app.post("/transfer")
def transfer() -> tuple[str, int]:
    """A managed S3 transfer of a large file each way: s3transfer splits it into parts sent on its own threads."""
    size = int(request.args.get("mb", "20")) * 1024 * 1024
    bucket, key = os.environ["TRANSFER_BUCKET"], f"blob-{uuid.uuid4()}"
    s3 = boto3.client("s3")
    with tempfile.TemporaryDirectory() as tmp:
        source, copy = os.path.join(tmp, "up"), os.path.join(tmp, "down")
        with open(source, "wb") as out:
            out.truncate(size)
        s3.upload_file(source, bucket, key)
        s3.download_file(bucket, key, copy)
    return "moved", 201


@app.post("/fanout")
def fanout() -> tuple[str, int]:
    """Writes handed to a thread pool and to a thread of the request's own."""
    if not _ddb:
        _ddb.append(boto3.client("dynamodb"))

    def write() -> None:
        _ddb[0].put_item(TableName=os.environ["PUT_TABLE"], Item={"id": {"S": str(uuid.uuid4())}})

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(write) for _ in range(2)]:
            future.result()
    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    return "written", 201
