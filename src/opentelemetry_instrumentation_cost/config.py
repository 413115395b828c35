"""Every ``OTEL_PYTHON_COST_*`` variable, read once into one typed object.

A bad value never stops the app: it gives one warning naming the variable and the default used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple, TypeVar

from ._log import logger
from .store.urls import checked, redact

T = TypeVar("T")

PRICING_API_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_IMDS_ENDPOINT = "http://169.254.169.254"  # botocore's default for AWS_EC2_METADATA_SERVICE_ENDPOINT


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("opentelemetry-instrumentation-cost"))


class Settings(NamedTuple):
    """The package's configuration; see the README's configuration table.

    A NamedTuple, like the package's other records built at start-up (or slotted classes where they change), not a
    dataclass: a dataclass compiles its methods from source when its module is imported, about 1 ms each on a small
    VM, and every process pays that at start-up.
    """

    instance_type: str | None = None
    imds_v1_fallback: bool = False
    price_file: Path | None = None
    discount: float = 0.0
    pricing_api: bool = True
    pricing_api_region: str = "us-east-1"
    pricing_region: str | None = None
    cache_dir: Path | None = None
    cache_ttl_s: float = 86400.0
    host_share: float | None = None
    host_wide: bool = True  # one ledger for every instrumented process of the host; False: each process alone
    native: bool = True  # the ledger's hot path in C (``attribution/_cells.c``) where it was built; False: Python
    ledger_dir: Path | None = None  # where the host's ledger file goes (None: /dev/shm/otel-cost-<uid>)
    dynamodb_consumed_capacity: bool = True
    max_transactions: int = 500
    customer: str | None = None  # the span attribute or baggage entry naming the customer; None: no customer
    max_customers: int = 1000
    trust_baggage: bool = True
    record_unsampled_roots: bool = True  # local roots the sampler drops are recorded (RECORD_ONLY), not exported
    threads: bool = True  # enable opentelemetry-instrumentation-threading when the app instruments by itself
    store_url: str | None = None  # None: the default SQLite file in the user data dir
    flush_interval_s: float = 10.0
    retention_days: int = 90
    rollup_days: int = 2  # per-minute rows older than this many days become hourly
    buffer_max_batches: int = 360
    budgets: str | None = None  # raw OTEL_PYTHON_COST_BUDGETS, parsed by budgets.config
    budget_enforce: bool = False
    # botocore's own settings, honoured as botocore does
    imds_endpoint: str = _IMDS_ENDPOINT
    imds_disabled: bool = False
    aws_region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        r = _Reader(env)
        return cls(
            instance_type=r.parse("OTEL_PYTHON_COST_INSTANCE_TYPE", None, _instance_type, "detected"),
            imds_v1_fallback=r.flag("OTEL_PYTHON_COST_IMDS_V1_FALLBACK", False),
            price_file=r.parse("OTEL_PYTHON_COST_PRICE_FILE", None, _existing_file, "no price file"),
            discount=r.parse("OTEL_PYTHON_COST_DISCOUNT", 0.0, _fraction, "0 (list prices)"),
            pricing_api=r.flag("OTEL_PYTHON_COST_PRICING_API", True),
            pricing_api_region=r.parse("OTEL_PYTHON_COST_PRICING_API_REGION", "us-east-1", _api_region, "us-east-1"),
            pricing_region=r.parse("OTEL_PYTHON_COST_PRICING_REGION", None, _region, "the host's own region"),
            cache_dir=r.parse("OTEL_PYTHON_COST_CACHE_DIR", None, _directory, "the user cache dir"),
            cache_ttl_s=r.parse("OTEL_PYTHON_COST_CACHE_TTL", 86400.0, _non_negative, "86400"),
            host_share=r.parse("OTEL_PYTHON_COST_HOST_SHARE", None, _share, "the cgroup CPU quota, else 1"),
            host_wide=r.flag("OTEL_PYTHON_COST_HOST_WIDE", True),
            native=r.flag("OTEL_PYTHON_COST_NATIVE", True),
            ledger_dir=r.parse("OTEL_PYTHON_COST_LEDGER_DIR", None, _directory, "/dev/shm/otel-cost-<uid>"),
            dynamodb_consumed_capacity=r.flag("OTEL_PYTHON_COST_DYNAMODB_CONSUMED_CAPACITY", True),
            max_transactions=r.parse("OTEL_PYTHON_COST_MAX_TRANSACTIONS", 500, _positive_int, "500"),
            customer=r.parse("OTEL_PYTHON_COST_CUSTOMER", None, _attribute_key, "no customer dimension"),
            max_customers=r.parse("OTEL_PYTHON_COST_MAX_CUSTOMERS", 1000, _positive_int, "1000"),
            trust_baggage=r.flag("OTEL_PYTHON_COST_TRUST_BAGGAGE", True),
            record_unsampled_roots=r.parse("OTEL_PYTHON_COST_UNSAMPLED_ROOTS", True, _unsampled, "record"),
            threads=r.flag("OTEL_PYTHON_COST_THREADS", True),
            store_url=r.parse("OTEL_PYTHON_COST_STORE_URL", None, checked, "sqlite in the user data dir"),
            flush_interval_s=r.parse("OTEL_PYTHON_COST_FLUSH_INTERVAL", 10.0, _positive, "10"),
            retention_days=r.parse("OTEL_PYTHON_COST_RETENTION_DAYS", 90, _positive_int, "90"),
            rollup_days=r.parse("OTEL_PYTHON_COST_ROLLUP_DAYS", 2, _positive_int, "2"),
            buffer_max_batches=r.parse("OTEL_PYTHON_COST_BUFFER_MAX_BATCHES", 360, _positive_int, "360"),
            budgets=r.text("OTEL_PYTHON_COST_BUDGETS"),
            budget_enforce=r.parse("OTEL_PYTHON_COST_BUDGET_ACTION", False, _action, "annotate"),
            imds_endpoint=(r.text("AWS_EC2_METADATA_SERVICE_ENDPOINT") or _IMDS_ENDPOINT).rstrip("/"),
            imds_disabled=r.flag("AWS_EC2_METADATA_DISABLED", False),
            aws_region=r.text("AWS_REGION") or r.text("AWS_DEFAULT_REGION"),
        )

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else _default_cache_dir()


class _Reader:
    """Reads variables and warns once per bad one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        _bad(name, value, "true or false", str(default).lower())
        return default

    def parse(self, name: str, default: T, convert: Callable[[str], T], default_text: str) -> T:
        value = self.text(name)
        if value is None:
            return default
        try:
            return convert(value)
        except (ValueError, OSError) as exc:
            _bad(name, value, str(exc), default_text)
            return default


def _bad(name: str, value: str, expected: str, default_text: str) -> None:
    if "://" in value:  # a URL may carry a password, and no log ever shows one
        value = redact(value)
    logger.warning("%s=%r is invalid (%s); using the default: %s", name, value[:200], expected, default_text)


def _fraction(value: str) -> float:
    f = float(value)
    if not 0.0 <= f < 1.0:
        raise ValueError("expected a fraction from 0 to below 1, e.g. 0.18")
    return f


def _share(value: str) -> float:
    f = float(value)
    if not 0.0 < f <= 1.0:
        raise ValueError("expected a fraction above 0 and at most 1")
    return f


def _non_negative(value: str) -> float:
    f = float(value)
    if not f >= 0.0:
        raise ValueError("expected a number of seconds, 0 or more")
    return f


def _positive(value: str) -> float:
    f = float(value)
    if not f > 0.0:
        raise ValueError("expected a number above 0")
    return f


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError("expected a whole number, 1 or more")
    return n


def _attribute_key(value: str) -> str:
    """An attribute or baggage key such as ``enduser.id``: printable, no spaces, at most 128 characters."""
    if len(value) > 128 or not re.fullmatch(r"[A-Za-z0-9_.\-/:]+", value):
        raise ValueError("expected an attribute or baggage key, e.g. enduser.id")
    return value


def _unsampled(value: str) -> bool:
    if value not in ("record", "drop"):
        raise ValueError("expected record or drop")
    return value == "record"


def _action(value: str) -> bool:
    if value not in ("annotate", "enforce"):
        raise ValueError("expected annotate or enforce")
    return value == "enforce"


_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9-]+")


def _instance_type(value: str) -> str | None:
    """An EC2 instance type's shape (``m5.large``, ``u-6tb1.metal``, ``mac2-m2pro.metal``): a value that cannot be
    one (``a big box``, ``M5.LARGE``) is detected over, rather than priced as unknown for good."""
    if not _INSTANCE_TYPE.fullmatch(value):
        raise ValueError("expected an instance type, e.g. m5.large")
    return value


_REGION = re.compile(
    r"(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-"
    r"(east|west|north|south|central|northeast|northwest|southeast|southwest)-[1-9][0-9]?"
)


def _region(value: str) -> str | None:
    """An AWS region code's shape (``eu-west-1``, ``us-gov-west-1``, ``ap-southeast-5``): a list would go stale as
    regions open, a typo or a name (``Ireland``) would silently make every price unknown."""
    if not _REGION.fullmatch(value):
        raise ValueError("expected an AWS region code, e.g. eu-west-1")
    return value


def _api_region(value: str) -> str:
    if value not in PRICING_API_REGIONS:
        raise ValueError("the Price List API exists only in " + ", ".join(PRICING_API_REGIONS))
    return value


def _directory(value: str) -> Path:
    """An absolute path, not a file: a relative one would follow each process's working directory (gunicorn's
    ``--chdir``, a worker's), so the processes of one host would not find one ledger, nor one cache. Whether it can
    be written is found when it is used, with a warning naming the variable."""
    path = Path(value)
    if not path.is_absolute():
        raise ValueError("expected an absolute path")
    if path.exists() and not path.is_dir():
        raise ValueError("a file, not a directory")
    return path


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise ValueError("no such file")
    return path
