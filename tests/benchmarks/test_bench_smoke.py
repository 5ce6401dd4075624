"""`make bench` works: the smoke-sized run against the suite's broker writes every figure, and
the counts add up. Nothing here asserts a speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

FIELDS: dict[str, tuple[str, ...]] = {
    "": (
        "date",
        "command",
        "parameters",
        "machine",
        "idle",
        "preload",
        "raw",
        "stages",
        "full",
        "latency",
        "restore",
        "rocksdb",
        "targets",
    ),
    "parameters": ("events", "customers", "invalid_ratio", "seed", "partitions", "smoke"),
    "machine": (
        "cpu_model",
        "cores",
        "ram_bytes",
        "os",
        "python",
        "kafka",
        "packages",
        "git_commit",
    ),
    "idle": ("rss_bytes",),
    "preload": ("events", "profiles", "invalid", "seconds", "messages_per_second"),
    "raw": ("records", "seconds", "events_per_second"),
    "stages": ("intake", "contract"),
    "full": (
        "events",
        "profiles",
        "seconds",
        "events_per_second",
        "ratio_to_raw",
        "percent_of_raw",
        "rss_ready_bytes",
        "rss_end_bytes",
        "rss_peak_bytes",
        "customers_tracked",
        "rss_per_customer_bytes",
        "rss_per_customer_kib",
        "rss_per_customer_over_idle_bytes",
        "events_accounted",
        "profiles_accounted",
        "rss_samples",
    ),
    "latency": (
        "rate_target",
        "rate_achieved",
        "events_sent",
        "events_accounted",
        "alerts_matched",
        "latency_ms",
        "latency_by_receipt_ms",
    ),
    "restore": (
        "seconds",
        "customers_restored",
        "customers_expected",
        "customers_in_log_line",
        "rss_per_customer_restored_bytes",
    ),
    "rocksdb": (
        "customers_target",
        "customers_tracked",
        "events",
        "events_per_second",
        "rss_at_10_percent_bytes",
        "rss_end_bytes",
        "flatness",
        "series",
    ),
}


def _stamps() -> list[float | None]:
    """Modification times of the committed results (None: no such file)."""
    paths = (ROOT / "BENCHMARKS.md", ROOT / "tests" / "benchmarks" / "results.json")
    return [p.stat().st_mtime if p.exists() else None for p in paths]


def test_the_smoke_benchmark_runs_and_its_counts_add_up(bootstrap: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    committed = _stamps()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CX_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.bench",
            "--smoke",
            "--bootstrap",
            bootstrap,
            "--output",
            str(output),
            "--work-dir",
            str(tmp_path / "work"),
            "--stall-seconds",
            "60",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=270,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    assert _stamps() == committed, "a smoke run must leave results.json and BENCHMARKS.md alone"
    results: dict[str, Any] = orjson.loads(output.read_bytes())

    for section, names in FIELDS.items():
        where = results[section] if section else results
        missing = [n for n in names if n not in where]
        assert not missing, f"{section or 'top level'}: missing {missing}"

    preload, raw, full = results["preload"], results["raw"], results["full"]
    latency, restore, rocks = results["latency"], results["restore"], results["rocksdb"]
    # every event published was read by the raw reader and accounted for by the worker
    assert preload["events"] == results["parameters"]["events"] == 10_000
    assert raw["records"] == preload["events"]
    for stage in results["stages"].values():
        assert stage["records"] == preload["events"]
        assert stage["events_per_second"] > 0 and stage["microseconds_per_event"] > 0
    assert full["events_accounted"] >= preload["events"]
    assert full["profiles_accounted"] >= preload["profiles"] == results["parameters"]["customers"]
    assert full["events_by_outcome"].get("dead_lettered", 0) >= preload["invalid"] > 0
    assert 0 < full["customers_tracked"] <= preload["profiles"]
    # the live phase: everything sent was read, and alerts came back for it
    assert latency["events_sent"] > 0 and latency["events_accounted"] >= latency["events_sent"]
    assert latency["alerts_matched"] > 0
    assert latency["latency_ms"]["count"] == latency["alerts_matched"]
    # the restored worker holds every customer the first one tracked
    assert restore["customers_restored"] == restore["customers_expected"] > 0
    assert restore["customers_in_log_line"] is not None
    assert restore["customers_in_log_line"] >= restore["customers_restored"]
    # RocksDB: every customer, a sample at each 10 %
    assert rocks["customers_tracked"] == rocks["customers_target"] == 3_000
    assert [s["percent"] for s in rocks["series"]] == list(range(10, 101, 10))
    assert rocks["flatness"] > 0
    # rates and memory are positive; how large is not this test's business
    for rate in (
        preload["messages_per_second"],
        raw["events_per_second"],
        full["events_per_second"],
        latency["rate_achieved"],
        rocks["events_per_second"],
    ):
        assert rate > 0
    assert full["rss_peak_bytes"] >= full["rss_end_bytes"] > 0
    assert restore["seconds"] > 0
    assert {t["verdict"] for t in results["targets"]} <= {"met", "missed", "not judged"}
    assert len(results["targets"]) == 5
