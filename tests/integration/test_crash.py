"""A worker killed with SIGKILL in the middle of a long stream, then restarted, ends where an
uninterrupted run over the same input ends: the same final scores, every alert.

The input is the journey generator's (fixed seed, fixed clock, event times spread over 30
days), published to two separate sets of topics: one worker processes it in one go, another
is killed part-way and started again. Silence checks are turned off in both: a `silent` alert
is raised by a wall-clock timer against the event-time clock, so when it fires depends on
timing, not on the input.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.generator import GeneratorConfig, publish
from streams.settings import Settings
from tests.integration.conftest import Worker, make_worker
from tests.integration.kafka_io import Record

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(3600)]

FULL = os.environ.get("CX_FAULTS_SCALE") == "full"
EVENTS = 300_000 if FULL else 100_000
CUSTOMERS = 6_000 if FULL else 2_000
CLOCK = datetime.now(UTC).replace(microsecond=0)
#: what must match between the runs: all of a score update but when it was published
SAME = ("score", "band", "confidence", "components", "measures", "event_count", "drivers")


def feed(worker: Worker) -> None:
    settings = Settings(
        kafka_bootstrap=worker.bootstrap,
        topic_interactions=worker.topics["interactions"],
        topic_customers=worker.topics["customers"],
    )
    config = GeneratorConfig(
        customers=CUSTOMERS,
        rate=0,
        events=EVENTS,
        seed=11,
        backfill_days=30,
        id_prefix="K-",
        # every event keyed by its customer, so that each customer's events reach the score
        # agent in the order published, in both runs: unkeyed ones are re-keyed from other
        # partitions, which run ahead or behind, and which of them then falls outside the
        # allowed lateness depends on timing, not on the input
        unkeyed_ratio=0.0,
    )
    asyncio.run(publish(settings, config, clock=lambda: CLOCK))


def events_seen(worker: Worker) -> float:
    """Interaction events this worker process has finished with, by /metrics."""
    status, text = worker.get("/metrics")
    if status != 200:
        return 0.0
    return sum(float(v) for v in re.findall(r"^cx_events_total\{[^}]*\} (\S+)$", text, re.M))


def wait_until(check: Callable[[], bool], timeout: float, what: str, worker: Worker) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached in {timeout:.0f} s:\n{worker.log_tail()}")
        if not worker.alive():
            pytest.fail(f"worker exited while waiting for {what}:\n{worker.log_tail()}")
        time.sleep(1)


def start(bootstrap: str, tmp: Path, **env: str) -> Worker:
    worker = make_worker(bootstrap, tmp)
    worker.env.update({"CX_SILENCE_CHECK_SECONDS": "86400", "CX_LOG_LEVEL": "warning", **env})
    worker.start()  # creates the topics
    feed(worker)
    return worker


def latest(records: list[Record]) -> dict[bytes, dict[str, Any]]:
    out: dict[bytes, dict[str, Any]] = {}
    for record in records:
        update = record.json()
        key = record.key or b""
        if key not in out or update["event_count"] >= out[key]["event_count"]:
            out[key] = update
    return out


class Settled:
    """`read_until` condition: every customer's latest update has its expected event count.

    Incremental, so that reading a few hundred thousand records stays linear.
    """

    def __init__(self, expected: dict[bytes, int]) -> None:
        self.expected = expected
        self.missing = {key for key, count in expected.items() if count > 0}
        self.read = 0

    def __call__(self, records: list[Record]) -> bool:
        for record in records[self.read :]:
            key = record.key or b""
            if key in self.missing and record.json()["event_count"] >= self.expected[key]:
                self.missing.discard(key)
        self.read = len(records)
        return not self.missing


@pytest.fixture(scope="module")
def uninterrupted(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[bytes, dict[str, Any]], set[str]]:
    """The reference: the final score update of every customer, and the ids of all alerts."""
    worker = start(bootstrap, tmp_path_factory.mktemp("reference"))
    try:
        wait_until(lambda: events_seen(worker) >= EVENTS, 1800, "all events", worker)
        scores = worker.read("scores", _count_at_least(_scored(worker)), timeout=300)
        alerts = worker.read("alerts", _count_at_least(_alerted(worker)), timeout=120)
        return latest(scores), {a.json()["alert_id"] for a in alerts}
    finally:
        worker.stop()


def _count_at_least(n: int) -> Callable[[list[Record]], bool]:
    return lambda records: len(records) >= n


def _metric_sum(worker: Worker, name: str, label: str = "") -> int:
    _, text = worker.get("/metrics")
    pattern = rf"^{name}\{{[^}}]*{label}[^}}]*\}} (\S+)$"
    return int(sum(float(v) for v in re.findall(pattern, text, re.M)))


def _scored(worker: Worker) -> int:
    return _metric_sum(worker, "cx_events_total", 'outcome="scored"')


def _alerted(worker: Worker) -> int:
    return _metric_sum(worker, "cx_alerts_total")


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_worker_killed_mid_stream_ends_with_the_same_scores_and_every_alert(
    bootstrap: str,
    tmp_path: Path,
    uninterrupted: tuple[dict[bytes, dict[str, Any]], set[str]],
    guarantee: str,
) -> None:
    reference, reference_alerts = uninterrupted
    assert len(reference) == CUSTOMERS and len(reference_alerts) > 50  # the input has substance
    worker = start(bootstrap, tmp_path, CX_PROCESSING_GUARANTEE=guarantee)
    isolation = "read_committed" if guarantee == "exactly_once" else "read_uncommitted"
    try:
        wait_until(lambda: events_seen(worker) >= EVENTS * 0.4, 1800, "40% of events", worker)
        assert worker.process is not None
        worker.process.send_signal(signal.SIGKILL)  # no shutdown, no final commit
        worker.process.wait()
        worker.process = None
        worker.start()

        expected = {key: update["event_count"] for key, update in reference.items()}
        settled = Settled(expected)
        scores = worker.read("scores", settled, timeout=1800, isolation_level=isolation)
        assert not settled.missing, f"{len(settled.missing)} customers never caught up"
        final = latest(scores)
        for key, want in reference.items():
            got = final[key]
            assert {f: got[f] for f in SAME} == {f: want[f] for f in SAME}, key

        alerts = worker.read(
            "alerts",
            lambda rs: {r.json()["alert_id"] for r in rs} >= reference_alerts,
            timeout=120,
            isolation_level=isolation,
        )
        ids = [a.json()["alert_id"] for a in alerts]
        assert set(ids) == reference_alerts  # every alert, and no other
        if guarantee == "exactly_once":
            assert len(ids) == len(set(ids)), "an alert was published twice"
        else:  # at least once: a repeat carries the same id, for consumers to drop
            print(f"{len(ids) - len(set(ids))} alerts repeated after the kill, same ids")
        for key in list(reference)[:20]:  # and the state the HTTP view serves agrees
            body = worker.customer(key.decode(), expected[key])
            assert (body["score"], body["band"]) == (
                reference[key]["score"],
                reference[key]["band"],
            )
    except BaseException:
        print(worker.log_tail())
        raise
    finally:
        worker.stop()
