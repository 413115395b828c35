"""A small shop service: item lookup and checkout, calling AWS (DynamoDB, S3, SQS) through boto3.

It knows nothing about cost: run it under ``opentelemetry-instrument`` with the cost package installed and every
request's server span carries its estimated cost. AWS endpoints come from boto3's own settings
(``AWS_ENDPOINT_URL`` points them all at moto's server in the demo and the tests).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import uuid

import boto3
from flask import Flask, jsonify, request

TABLE = os.environ.get("SHOP_TABLE", "shop-orders")
ITEMS = os.environ.get("SHOP_ITEMS_TABLE", "shop-items")
BUCKET = os.environ.get("SHOP_BUCKET", "shop-receipts")
QUEUE = os.environ.get("SHOP_QUEUE", "shop-orders")
QUOTE_URL = os.environ.get("QUOTE_URL")  # another service (this same app) that prices the order

app = Flask(__name__)
_clients: dict[str, object] = {}
_setup_lock = threading.Lock()
_queue_url: list[str] = []


def client(service: str):
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def ensure_resources() -> None:
    """Create the table, bucket and queue once (idempotent), so the example runs against an empty emulator."""
    with _setup_lock:
        if _queue_url:
            return
        ddb = client("dynamodb")
        existing = ddb.list_tables()["TableNames"]
        for name, key in ((TABLE, "order_id"), (ITEMS, "item_id")):
            if name not in existing:
                ddb.create_table(
                    TableName=name,
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                if name == ITEMS:
                    for i in range(1, 6):
                        ddb.put_item(TableName=ITEMS, Item={"item_id": {"S": str(i)}, "price": {"N": str(i * 10)}})
        s3 = client("s3")
        try:
            s3.head_bucket(Bucket=BUCKET)
        except Exception:
            s3.create_bucket(Bucket=BUCKET)
        _queue_url.append(client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"])


@app.get("/health")
def health():
    """No AWS call: only compute cost."""
    work_ms = float(request.args.get("work_ms", "0"))
    if work_ms:
        time.sleep(work_ms / 1000.0)
    return jsonify(status="ok")


@app.get("/items/<item_id>")
def get_item(item_id: str):
    ensure_resources()
    item = client("dynamodb").get_item(TableName=ITEMS, Key={"item_id": {"S": item_id}}).get("Item")
    if item is None:
        return jsonify(error="not found"), 404
    return jsonify(item_id=item_id, price=float(item["price"]["N"]))


@app.post("/checkout")
def checkout():
    ensure_resources()
    order = request.get_json(silent=True) or {"items": ["1"]}
    order_id = str(uuid.uuid4())
    client("dynamodb").put_item(
        TableName=TABLE,
        Item={"order_id": {"S": order_id}, "items": {"S": json.dumps(order.get("items", []))}},
    )
    receipt = json.dumps({"order_id": order_id, "items": order.get("items", [])})
    client("s3").put_object(Bucket=BUCKET, Key=f"receipts/{order_id}.json", Body=receipt.encode())
    client("sqs").send_message(QueueUrl=_queue_url[0], MessageBody=receipt)
    if QUOTE_URL:  # a downstream call: the transaction name travels in W3C baggage, with no code here
        with urllib.request.urlopen(f"{QUOTE_URL}/quote/{order.get('items', ['1'])[0]}", timeout=10) as resp:
            resp.read()
    return jsonify(order_id=order_id), 201


@app.post("/bulk")
def bulk():
    """A loop of DynamoDB writes (an import job, an agent gone round in circles): what budgets are for."""
    ensure_resources()
    n = int(request.args.get("n", "20"))
    batch = request.args.get("batch", str(uuid.uuid4()))
    for i in range(n):
        client("dynamodb").put_item(TableName=TABLE, Item={"order_id": {"S": f"{batch}-{i}"}, "batch": {"S": batch}})
    return jsonify(written=n), 201


@app.get("/quote/<item_id>")
def quote(item_id: str):
    """The downstream service's work: one item lookup."""
    ensure_resources()
    item = client("dynamodb").get_item(TableName=ITEMS, Key={"item_id": {"S": item_id}}).get("Item") or {}
    return jsonify(item_id=item_id, price=float(item.get("price", {}).get("N", "0")))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
