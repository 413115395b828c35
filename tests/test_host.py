"""Host detection against loopback IMDSv2 / ECS fakes: bounded, IMDSv2-only by default, cached per boot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost._cache import DiskCache
from opentelemetry_instrumentation_cost.config import Settings
from opentelemetry_instrumentation_cost.host import detect_host
from opentelemetry_instrumentation_cost.host.local import dmi_says_not_ec2
from tests.fakes.ecs import FakeEcs
from tests.fakes.imds import TOKEN, FakeImds, ImdsConfig
from tests.fakes.server import BlackHole


def _detect(tmp_path: Path, endpoint: str, **env: str):
    full_env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint, **env}
    settings = Settings.from_env(full_env)
    return detect_host(settings, full_env, DiskCache(tmp_path / "cache", 86400))


def test_imdsv2_token_first_then_identity(tmp_path: Path) -> None:
    with FakeImds() as imds:
        host = _detect(tmp_path, imds.url)
    assert (host.platform, host.instance_type, host.lifecycle, host.region, host.availability_zone) == (
        "ec2",
        "c6i.xlarge",
        "on-demand",
        "eu-west-1",
        "eu-west-1b",
    )
    method, path, _, _ = imds.requests[0]
    assert (method, path) == ("PUT", "/latest/api/token")
    assert all(r[2].get("X-aws-ec2-metadata-token") == TOKEN for r in imds.requests[1:])


def test_spot_lifecycle(tmp_path: Path) -> None:
    with FakeImds(ImdsConfig(lifecycle="spot", instance_type="m5.large", region="us-east-1")) as imds:
        host = _detect(tmp_path, imds.url)
    assert host.lifecycle == "spot"


@pytest.mark.parametrize("status", [403, 404, 405])
def test_token_refused_means_unknown_without_v1_fallback(tmp_path: Path, status: int) -> None:
    with FakeImds(ImdsConfig(token_status=status, allow_v1=True)) as imds:
        host = _detect(tmp_path, imds.url)
    assert host.platform == "unknown"
    assert f"HTTP {status}" in host.detail
    assert [r[0] for r in imds.requests] == ["PUT"]  # no IMDSv1 GET was tried


def test_v1_fallback_only_when_asked(tmp_path: Path) -> None:
    with FakeImds(ImdsConfig(token_status=403, allow_v1=True)) as imds:
        host = _detect(tmp_path, imds.url, OTEL_PYTHON_COST_IMDS_V1_FALLBACK="true")
    assert host.instance_type == "c6i.xlarge"


def test_garbage_answers_mean_unknown(tmp_path: Path) -> None:
    with FakeImds(ImdsConfig(garbage=True)) as imds:
        host = _detect(tmp_path, imds.url)
    assert host.platform == "unknown" and "malformed" in host.detail


def test_black_hole_costs_at_most_the_budget(tmp_path: Path) -> None:
    with BlackHole() as hole:
        t0 = time.monotonic()
        host = _detect(tmp_path, hole.url)
        elapsed = time.monotonic() - t0
    assert host.platform == "unknown"
    assert elapsed < 1.3  # the 1 s budget, plus scheduling slack


def test_refused_port_is_unknown_at_once(tmp_path: Path) -> None:
    from scripts.harness import free_port

    host = _detect(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert host.platform == "unknown"


def test_disabled_by_botocore_setting(tmp_path: Path) -> None:
    with FakeImds() as imds:
        host = _detect(tmp_path, imds.url, AWS_EC2_METADATA_DISABLED="true")
    assert host.platform == "unknown" and imds.requests == []


def test_answer_cached_per_boot(tmp_path: Path) -> None:
    with FakeImds() as imds:
        first = _detect(tmp_path, imds.url)
        n = len(imds.requests)
        second = _detect(tmp_path, imds.url)
    assert first == second and len(imds.requests) == n


def test_fargate_from_ecs_task_metadata(tmp_path: Path) -> None:
    with FakeEcs(cpu=0.25, memory_mib=512) as ecs:
        host = _detect(tmp_path, "http://127.0.0.1:9", ECS_CONTAINER_METADATA_URI_V4=ecs.url_v4)
    assert (host.platform, host.vcpus, host.memory_gb, host.region) == ("fargate", 0.25, 0.5, "us-east-1")


def test_ecs_on_ec2_falls_through_to_imds(tmp_path: Path) -> None:
    with FakeEcs(launch_type="EC2") as ecs, FakeImds() as imds:
        host = _detect(tmp_path, imds.url, ECS_CONTAINER_METADATA_URI_V4=ecs.url_v4)
    assert host.instance_type == "c6i.xlarge"


def test_lambda_environment(tmp_path: Path) -> None:
    host = _detect(
        tmp_path,
        "http://127.0.0.1:9",
        AWS_LAMBDA_FUNCTION_NAME="fn",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        AWS_REGION="eu-west-1",
    )
    assert (host.platform, host.memory_gb, host.region) == ("lambda", 1.0, "eu-west-1")


def test_override_wins_and_touches_no_network(tmp_path: Path) -> None:
    with FakeImds() as imds:
        host = _detect(tmp_path, imds.url, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large")
    assert (host.platform, host.instance_type) == ("override", "m5.large") and imds.requests == []


def test_dmi_files(tmp_path: Path) -> None:
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    assert dmi_says_not_ec2(dmi, tmp_path / "none") is False  # no files prove nothing
    (dmi / "sys_vendor").write_text("QEMU\n")
    assert dmi_says_not_ec2(dmi, tmp_path / "none") is True
    (dmi / "board_asset_tag").write_text("i-0123456789abcdef0\n")
    assert dmi_says_not_ec2(dmi, tmp_path / "none") is False
