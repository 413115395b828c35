"""An OTLP/HTTP trace receiver (protobuf), decoding what a real exporter sends."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .server import LoopbackServer, RecordingHandler


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        body = self.body()
        self.record(body)
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        self.owner.batches.append(req)
        self.reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")


class FakeOtlpReceiver(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.batches: list[ExportTraceServiceRequest] = []

    def spans(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, attributes) of every span received, attribute values unwrapped from AnyValue."""
        out = []
        for batch in self.batches:
            for rs in batch.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}
                        out.append((span.name, attrs))
        return out
