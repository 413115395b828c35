"""CloudWatch API: GetMetricData per metric requested; other calls (PutMetricData...) per request."""

from __future__ import annotations

from ..types import Call, Meter, Metering, Usage


class CloudWatchMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        if call.operation == "GetMetricData":
            return Metering([Usage("GetMetricData-Metrics", float(len(call.params.get("MetricDataQueries", []))))])
        return Metering([Usage("Requests", float(call.attempts))])


METER = CloudWatchMeter()
