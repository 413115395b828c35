"""An OTLP/HTTP trace receiver (protobuf), decoding what a real exporter sends."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .server import LoopbackServer, RecordingHandler


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        body = self.body()
        self.record(body)
        if self.path.endswith("/v1/metrics"):
            metrics = ExportMetricsServiceRequest()
            metrics.ParseFromString(body)
            self.owner.metric_batches.append(metrics)
            self.reply(200, ExportMetricsServiceResponse().SerializeToString(), "application/x-protobuf")
            return
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        self.owner.batches.append(req)
        self.reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")


class FakeOtlpReceiver(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.batches: list[ExportTraceServiceRequest] = []
        self.metric_batches: list[ExportMetricsServiceRequest] = []

    def spans(self, resource_key: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(name, attributes) of every span received, attribute values unwrapped from AnyValue; with
        ``resource_key``, that resource attribute is added to each span's attributes."""
        out = []
        for batch in self.batches:
            for rs in batch.resource_spans:
                resource = _unwrap(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = _unwrap(span.attributes)
                        if resource_key:
                            attrs[resource_key] = resource.get(resource_key)
                        out.append((span.name, attrs))
        return out

    def records(self, resource_key: str = "process.pid") -> list[dict[str, Any]]:
        """Every span received with what a test needs to compute shares itself: name, kind (the proto's number:
        2 server, 5 consumer), trace id, start and end (ns), whether it has a parent, its attributes, and one resource
        attribute (``pid``)."""
        out = []
        for batch in self.batches:
            for rs in batch.resource_spans:
                pid = _unwrap(rs.resource.attributes).get(resource_key)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append(
                            {
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": int.from_bytes(span.trace_id, "big"),
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "parented": bool(span.parent_span_id),
                                "attributes": _unwrap(span.attributes),
                                "pid": pid,
                            }
                        )
        return out

    def last_sums(self, name: str, resource_key: str) -> dict[Any, float]:
        """The last cumulative value of the sum metric ``name``, per value of a resource attribute."""
        out: dict[Any, float] = {}
        for batch in self.metric_batches:
            for rm in batch.resource_metrics:
                key = _unwrap(rm.resource.attributes).get(resource_key)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name == name:
                            out[key] = sum(p.as_double for p in metric.sum.data_points)
        return out


def _unwrap(attributes: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in attributes}
