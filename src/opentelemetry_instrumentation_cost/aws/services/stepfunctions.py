"""Step Functions (standard): the caller sees only that an execution started, not its state transitions."""

from __future__ import annotations

from ..types import Call, Meter, Metering, Usage


class StepFunctionsMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        if call.operation != "StartExecution" or not call.ok:
            return None
        return Metering([Usage("StateTransitions", 1.0)], partial=True)  # the start; the rest happens elsewhere


METER = StepFunctionsMeter()
