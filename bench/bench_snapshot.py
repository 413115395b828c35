"""The bundled snapshot's cost: the wheel's size before and after it (a baseline commit's wheel against this tree's),
and in a fresh process the time to read the snapshot's index, the first EC2 price look-up (its region's file read)
and the first unit price look-up. Goals: at most 400 KB added to the wheel, a first look-up within 5 ms.

    python bench/bench_snapshot.py [BASELINE]   (default: 5f30bae, the last commit with the size-factor snapshot)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP = ROOT / ".venv" / "bin" / "pip"
BASELINE = "5f30bae"
_PROBE = """
import time
t0 = time.perf_counter()
from opentelemetry_instrumentation_cost.pricing.snapshot import Snapshot
t1 = time.perf_counter()
snap = Snapshot.bundled()
t2 = time.perf_counter()
price = snap.ec2_hourly("m5.large", "eu-west-1")
t3 = time.perf_counter()
unit = snap.unit("dynamodb/WriteRequestUnits", "us-east-1")
t4 = time.perf_counter()
assert price is not None and unit is not None
print((t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3, (t4 - t1) * 1e3)
"""


def _wheel(source: Path, out: Path) -> int:
    subprocess.run([str(PIP), "wheel", "--no-deps", "-q", "-w", str(out), str(source)], check=True, cwd=out)
    (wheel,) = out.glob("*.whl")
    return wheel.stat().st_size


def main(baseline: str = BASELINE) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), baseline], check=True)
        try:
            (Path(tmp) / "w0").mkdir()
            (Path(tmp) / "w1").mkdir()
            before = _wheel(base, Path(tmp) / "w0")
            after = _wheel(ROOT, Path(tmp) / "w1")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=True)
    print(f"wheel: {before / 1024:.0f} KB at {baseline}, {after / 1024:.0f} KB now: {(after - before) / 1024:+.0f} KB "
          f"(goal: at most +400 KB)")  # fmt: skip
    runs = []
    for _ in range(9):
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
        runs.append([float(x) for x in out.split()])
    index, ec2, unit, total = (statistics.median(r[i] for r in runs) for i in range(4))
    print(f"fresh process, median of 9: index read {index:.2f} ms, first EC2 look-up {ec2:.2f} ms (its region's file),"
          f" first unit look-up {unit:.3f} ms; all {total:.2f} ms (goal: a first look-up within 5 ms)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
