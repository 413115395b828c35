"""``otel-cost doctor``'s look at what the numbers cover: the sampler in force, threads, and the AWS clients hooked.

It reads the environment the app would start with, as the SDK and ``opentelemetry-instrument`` read it.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata

from ..config import Settings

Problems = list[tuple[str, str]]
_NEVER_DROPS = ("always_on",)


def check_coverage(settings: Settings, problems: Problems) -> None:
    _sampler(settings, problems)
    _threads(settings, problems)
    _clients()


def _sampler(settings: Settings, problems: Problems) -> None:
    name = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    arg = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    shown = f"{name} {arg}" if arg and "ratio" in name else name
    if name in _NEVER_DROPS:
        print(f"sampler        {shown}: every trace is exported, and costed")
    elif settings.record_unsampled_roots:
        print(
            f"sampler        {shown}: every request is costed and stored; the roots the sampler drops are recorded "
            "(RECORD_ONLY), not exported, and their AWS calls count into their transaction"
        )
    else:
        print(f"sampler        {shown}, with OTEL_PYTHON_COST_UNSAMPLED_ROOTS=drop: only sampled requests are costed")
        problems.append(
            (
                f"the sampler ({shown}) may drop requests, and OTEL_PYTHON_COST_UNSAMPLED_ROOTS=drop leaves them out: "
                "the store undercounts requests and AWS spend, and sampled requests absorb the others' compute",
                "unset OTEL_PYTHON_COST_UNSAMPLED_ROOTS (dropped roots are then recorded, never exported)",
            )
        )


def _threads(settings: Settings, problems: Problems) -> None:
    disabled = {x.strip() for x in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    if importlib.util.find_spec("opentelemetry.instrumentation.threading") is None:
        state, fix = "not installed", "install it (a dependency of this package)"
    elif "threading" in disabled:
        state = "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS under opentelemetry-instrument"
        fix = "take threading out of OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
    else:
        print(
            "threads        the request's context follows it into threads and executors "
            "(opentelemetry-instrumentation-threading"
            + ("" if settings.threads else "; OTEL_PYTHON_COST_THREADS=false: an app that instruments itself must")
            + ")"
        )
        return
    print(f"threads        opentelemetry-instrumentation-threading {state}")
    problems.append(
        (
            f"opentelemetry-instrumentation-threading is {state}: AWS calls made on worker threads (s3transfer's "
            "multipart parts, executors) count as <untraced>, not into their request",
            fix,
        )
    )


def _clients() -> None:
    for dist in ("botocore", "aiobotocore"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        print(f"AWS client     {dist} {version}: every client the app creates is metered")
