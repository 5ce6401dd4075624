"""The page at / in a real headless Chromium: what a person sees."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import make_worker
from tests.integration.journeys import happy, souring

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package)")


def render(url: str, profile: Path) -> str:
    """The page's DOM after its scripts have fetched and drawn (virtual time)."""
    result = subprocess.run(
        [
            CHROMIUM or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=8000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_page_shows_customers_at_risk_with_drivers_distribution_and_history(
    bootstrap: str, tmp_path: Path
) -> None:
    worker = make_worker(bootstrap, tmp_path)
    worker.start()
    try:
        bad, good = souring(), happy()
        worker.send_events(bad.events + good.events)
        worker.read("scores", lambda rs: len(rs) >= len(bad.events) + len(good.events))
        dom = render(f"http://127.0.0.1:{worker.port}/", tmp_path / "chromium")
    except BaseException:
        print(worker.log_tail())
        raise
    finally:
        worker.stop()

    assert re.search(r'id="tracked">2<', dom), dom[:2000]
    assert re.search(r'id="at-risk-count">1<', dom)
    row = re.search(
        rf'<tr class="customer selected" data-customer="{bad.customer_id}">(.*?)</tr>', dom, re.S
    )
    assert row, "the souring customer is not in the at-risk table"
    assert "critical" in row.group(1) or "at risk" in row.group(1)
    assert "Detractor NPS of 2" in row.group(1)
    assert good.customer_id not in dom.split('id="at-risk"')[1].split("</tbody>")[0]
    counts = [int(c) for c in re.findall(r'class="bar" data-bucket="\d+" data-count="(\d+)"', dom)]
    assert len(counts) == 10 and sum(counts) == 2
    points = re.search(r'<polyline points="([^"]+)"', dom)
    assert points and len(points.group(1).split()) == len(bad.events)
    assert f"{bad.customer_id}: score" in dom
