"""``otel-cost report --html``: a self-contained page, opened in headless Chromium (Debian's package,
``scripts/ensure_chromium.sh``): the figures this test computes from the rows it wrote appear in the rendered text,
the page fetches nothing, and its screenshot is not blank."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from scripts.harness import BIN, ROOT

ROWS = [  # transaction, requests, total USD (compute + AWS), compute USD, over budget
    ("POST /checkout", 120, 3.60, 1.20, 7),
    ("GET /items", 402, 1.20, 0.80, 0),
    ("POST /bulk", 12, 2.50, 0.50, 10),
]
IDLE = 0.70


def _store(path: Path) -> None:
    from opentelemetry_instrumentation_cost.store.model import Batch, Row
    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore
    from opentelemetry_instrumentation_cost.store.usage import UsageRow

    now = int(time.time()) // 60 * 60
    host = ("m5.large", "us-east-1", "web-1", "b1")
    rows = {}
    for minute in range(3):
        for name, count, total, compute, over in ROWS:
            aws = (total - compute) / 3
            first = over if minute == 0 else 0
            rows[(now - 60 * minute, "shop", name, *host)] = Row(count // 3, total / 3, compute / 3, aws, 0.1, first)
        rows[(now - 60 * minute, "shop", "<idle>", *host)] = Row(0, IDLE / 3, IDLE / 3)
    hour = now // 3600 * 3600
    usage = {
        (hour, "shop", "web-1", "dynamodb", "us-east-1", "WriteRequestUnits", ""): UsageRow(8e6, 5.0, 9),
        (hour, "shop", "web-1", "s3", "us-east-1", "Requests-Tier1", ""): UsageRow(1e5, 0.5, 3),
    }
    SQLiteStore(path).write(Batch(rows, usage=usage))


def test_the_page_shows_the_figures_in_chromium_and_is_not_blank(tmp_path: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], check=True)
    _store(tmp_path / "c.db")
    page = tmp_path / "report.html"
    subprocess.run([str(BIN / "otel-cost"), "report", "--store", f"sqlite:///{tmp_path / 'c.db'}", "--since", "1h",
                    "--html", str(page), "--budgets", "POST /checkout=0.02;POST /bulk=0.1"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    text = page.read_text()
    assert not re.search(r"(src|href)=\"?https?:", text) and "<script" not in text  # nothing fetched at view time
    chromium = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,1600"]
    dom = subprocess.run([*chromium, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60).stdout
    shown = re.sub(r"<[^>]+>", " ", dom)
    total = sum(r[2] for r in ROWS) + IDLE
    assert f"${total:,.2f}" in shown  # everything, idle included
    assert f"{IDLE / total:.1%}" in shown  # the idle share
    for name, _count, cost, _, _ in ROWS:
        assert name in shown and f"${cost:,.2f}" in shown
    assert "dynamodb" in shown and "$5.00" in shown and "$0.500000" in shown  # by AWS service
    assert re.search(r"POST /checkout\s+per request\s+\$0\.020000\s+\$0\.030000\s+over\s+7", shown)  # 3.60 / 120
    assert re.search(r"POST /bulk\s+per request\s+\$0\.100000\s+\$0\.208333\s+over\s+10", shown)  # 2.50 / 12
    shot = tmp_path / "shot.png"
    subprocess.run([*chromium, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=60, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::7]}
    assert pixels.shape[0] >= 1000 and len(colours) > 20  # text, bars and lines: not a blank page
