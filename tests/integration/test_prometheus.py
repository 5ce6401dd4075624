"""A real Prometheus scrapes a real worker and stores its cx_* metrics."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import Worker

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus not installed (Debian package)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_scrapes_the_cx_metrics(worker: Worker, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: cx-streams\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{worker.port}']}}]\n"
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not found:
            time.sleep(1)
            query = urllib.parse.quote('{__name__=~"cx_.+", job="cx-streams"}')
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/query?query={query}", timeout=5
                ) as response:
                    result = json.load(response)["data"]["result"]
            except OSError:
                continue
            found = sorted({series["metric"]["__name__"] for series in result})
        for name in (
            "cx_events_total",
            "cx_invalid_events_total",
            "cx_alerts_total",
            "cx_customers_tracked",
            "cx_customers_at_risk",
            "cx_score_bucket",
            "cx_event_time_lag_seconds_bucket",
        ):
            assert name in found, (name, found)
    finally:
        server.terminate()
        server.wait(timeout=30)
