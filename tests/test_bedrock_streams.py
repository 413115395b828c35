"""Bedrock model ids and streamed usage: the parts of the meter that no loopback server is needed for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost.aws.services.bedrock import MeteredStream, model_key, stream_tokens


@pytest.mark.parametrize(
    ("model_id", "base"),
    [
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "us.anthropic.claude-3-5-sonnet"),
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu.anthropic.claude-sonnet-4-5"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0", "us.amazon.nova-pro"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku"),
        ("meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-70b-instruct"),
        ("amazon.nova-pro-v1:0", "amazon.nova-pro"),
        ("amazon.titan-text-express-v1", "amazon.titan-text-express"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", "amazon.nova-lite"),
    ],
)
def test_model_ids_map_to_the_priced_model_and_profile(model_id: str, base: str) -> None:
    assert model_key(model_id) == base


def test_converse_stream_usage_is_reported_once_the_metadata_event_passes() -> None:
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "hi"}}},
        {"metadata": {"usage": {"inputTokens": 10, "outputTokens": 4}, "metrics": {"latencyMs": 5}}},
    ]
    seen: list[dict[str, float]] = []
    stream = MeteredStream(iter(events), "ConverseStream", seen.append)
    assert list(stream) == events  # the caller gets every event, unchanged
    assert seen == [{"input": 10.0, "output": 4.0, "cache_read": 0.0, "cache_write": 0.0}]


def test_invoke_model_stream_reads_the_invocation_metrics_chunk() -> None:
    last = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 7, "outputTokenCount": 3}}
    assert stream_tokens("InvokeModelWithResponseStream", {"chunk": {"bytes": json.dumps(last).encode()}}) == {
        "input": 7.0,
        "output": 3.0,
    }
    assert stream_tokens("InvokeModelWithResponseStream", {"chunk": {"bytes": b'{"type": "delta"}'}}) is None


def test_a_stream_that_ends_after_its_root_is_still_stored(tmp_path: Path) -> None:
    """The last event of a streamed response can arrive after its local root ended (a response streamed on by a
    generator): the root's cost is reported by then, so the charge is stored under ``<untraced>``, not lost."""
    from opentelemetry_instrumentation_cost.aws.metering import CallMeter
    from opentelemetry_instrumentation_cost.aws.types import Call
    from opentelemetry_instrumentation_cost.store.open import open_store
    from tests.inprocess import instrumented, memory_provider, offline_settings

    url = f"sqlite:///{tmp_path}/c.db"
    provider, _ = memory_provider()
    with instrumented(offline_settings(store_url=url), tracer_provider=provider) as inst:
        runtime = inst.runtime
        assert runtime is not None
        call = Call(
            "bedrock-runtime",
            "ConverseStream",
            {"modelId": "us.anthropic.claude-3-5-sonnet-20240620-v1:0"},
            {},
            None,
            {"client_region": "us-east-1"},
        )
        with provider.get_tracer("t").start_as_current_span("POST /chat") as span:
            root = runtime.ledger.root_of(span.get_span_context().trace_id)
        tokens = {"input": 1000.0, "output": 500.0, "cache_read": 0.0, "cache_write": 0.0}
        CallMeter(runtime)._stream_usage(call, root, tokens)  # the metadata event, after the root's end
        assert runtime.flush()
    store = open_store(url)
    rows = {r[2]: r for r in store.rows(0)}
    store.close()
    assert rows["<untraced>"][8] == pytest.approx(1000 * 3e-6 + 500 * 15e-6, rel=1e-12)
    assert rows["POST /chat"][8] == 0.0
